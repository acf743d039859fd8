/**
 * `docker login`'s check: a `GET /v2/` to the registry's own server (not a
 * mirror) with the credentials, answering its 401 challenge as a pull
 * would (Basic, or a token from the realm). Succeeds when the registry
 * answers 200; anything else is the error to show, and nothing is stored.
 */
import { isBerthError, kindOf, newError } from '../core/errdefs/index.js';
import { DEFAULT_DOMAIN } from '../core/reference/index.js';
import { Authorizer } from './auth.js';
import type { Credentials } from './credentials.js';
import { statusError } from './errors.js';
import { registryHosts } from './hosts.js';
import { discard } from './http.js';
import { DEFAULT_RETRY } from './retry.js';
import { Transport } from './transport.js';

/** index.ts's USER_AGENT (not imported: index.ts re-exports this module). */
const USER_AGENT = 'berth/0.1';

export interface LoginCheckOptions {
  /** containerd's hosts.toml directory: the server's scheme, CA, client certs and headers. */
  hostsDir?: string;
  /** Plain HTTP where hosts.toml says nothing (localhost and 127.0.0.1 are plain anyway). */
  plainHttp?: boolean;
  signal?: AbortSignal;
}

/**
 * Checks `creds` against `domain`'s registry (`docker.io` for Docker Hub);
 * throws one line, `login to <domain> failed: <status and reason> (<request>)`.
 */
export async function checkLogin(
  domain: string,
  creds: Credentials,
  opts: LoginCheckOptions = {},
): Promise<void> {
  const hosts = registryHosts(domain, {
    ...(opts.hostsDir !== undefined && { hostsDir: opts.hostsDir }),
    ...(opts.plainHttp === true && { plainHttp: true }),
  });
  const server = hosts[hosts.length - 1];
  if (server === undefined) throw newError('invalid_argument', `login: no server for ${domain}`);
  const authorizer = new Authorizer({
    credentials: async (h) => (h === server.host ? creds : undefined),
    headers: { 'user-agent': USER_AGENT },
  });
  const transport = new Transport({
    authorizer,
    headers: { 'user-agent': USER_AGENT },
    retry: { ...DEFAULT_RETRY, attempts: 2 },
  });
  const url = new URL(`${server.scheme}://${server.host}${server.path.replace(/\/$/, '')}/`);
  const what = domain === DEFAULT_DOMAIN ? 'docker.io' : domain;
  try {
    const { res } = await transport.do({
      op: 'login',
      method: 'GET',
      host: server,
      url,
      scopes: [],
      ...(opts.signal !== undefined && { signal: opts.signal }),
    });
    if (res.statusCode === 200) {
      discard(res);
      return;
    }
    throw await statusError('login', 'GET', url, res);
  } catch (err) {
    const msg = (err as Error).message.replace(/\s+/g, ' ');
    // `login: GET <url>: 401 Unauthorized: …` → `401 Unauthorized: … (GET <url>)`.
    const m = /^login: ((?:GET|POST) \S+): (.*)$/.exec(msg);
    const reason = m === null ? msg.replace(/^login: /, '') : `${m[2]} (${m[1]})`;
    throw newError(
      isBerthError(err) ? kindOf(err) : 'unknown',
      `login to ${what} failed: ${reason}`,
      { cause: err },
    );
  }
}
