/**
 * @module
 * Registry credentials for a CRI pull, from the request's AuthConfig (or,
 * when it brings none, the CRI config's `registry.auths` /
 * `registry.configs.<host>.auth` for the host asked), as containerd's
 * ParseAuth reads them: `username`/`password`; else `identity_token` (an
 * OAuth refresh token); else `auth` (base64 of `user:password`).
 * `registry_token` (a bearer token for the registry, which containerd
 * ignores) is sent as `Authorization: Bearer <token>`.
 *
 * With a `server_address`, the credentials go only to that host; without
 * one, to every endpoint serving the image's registry: its own host and the
 * mirrors its hosts.toml lists (containerd does the same: the admin who
 * wrote the mirrors chose where the image is fetched from).
 */
import type { AuthConfig } from '../../api/k8s/cri/runtime/v1/api.js';
import { invalidArgument } from '../../core/errdefs/index.js';
import type { Credentials, CredentialsFn } from '../../remotes/index.js';
import type { RegistryAuth } from '../config.js';

/** `https://host:5000/v1/` → `host:5000`; `host:5000` stays itself. */
function hostOf(serverAddress: string): string {
  const withScheme = serverAddress.includes('://') ? serverAddress : `https://${serverAddress}`;
  try {
    return new URL(withScheme).host;
  } catch (err) {
    throw invalidArgument(`auth server_address ${JSON.stringify(serverAddress)}: not a URL`, {
      cause: err,
    });
  }
}

/** The credentials an AuthConfig gives `host`; undefined = anonymous. */
export function parseAuth(
  auth: Partial<AuthConfig> | undefined,
  host: string,
): Credentials | undefined {
  if (auth === undefined) return undefined;
  if (auth.serverAddress && hostOf(auth.serverAddress) !== host) return undefined;
  if (auth.username) return { username: auth.username, secret: auth.password ?? '' };
  if (auth.identityToken) return { username: '', secret: auth.identityToken };
  if (auth.auth) {
    const decoded = Buffer.from(auth.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw invalidArgument('auth: the decoded auth is not user:password');
    // biome-ignore lint/suspicious/noControlCharactersInRegex: Go's base64 leaves NULs after the password.
    const secret = decoded.slice(colon + 1).replace(/^\u0000+|\u0000+$/g, '');
    return { username: decoded.slice(0, colon), secret };
  }
  if (auth.registryToken) {
    return { username: '', secret: '', header: `Bearer ${auth.registryToken}` };
  }
  return undefined;
}

/** The configured credentials of a host, in the AuthConfig's shape. */
function fromConfig(a: RegistryAuth): Partial<AuthConfig> {
  return {
    username: a.username,
    password: a.password,
    auth: a.auth,
    identityToken: a.identityToken,
  };
}

/**
 * The credentials function of one pull: the request's AuthConfig when it
 * has one, else the configured credentials of the host asked.
 */
export function pullCredentials(
  auth: AuthConfig | undefined,
  configured: Readonly<Record<string, RegistryAuth>>,
): CredentialsFn | undefined {
  const given = auth !== undefined && Object.values(auth).some((v) => v !== '');
  if (!given && Object.keys(configured).length === 0) return undefined;
  // A malformed server address fails the pull at once, not at the first challenge.
  if (given && auth.serverAddress) hostOf(auth.serverAddress);
  return async (host) => {
    if (given) return parseAuth(auth, host);
    const c = configured[host];
    return c === undefined ? undefined : parseAuth(fromConfig(c), host);
  };
}
