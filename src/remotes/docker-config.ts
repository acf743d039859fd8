/**
 * Credentials from Docker's `config.json` (`$DOCKER_CONFIG/config.json`,
 * else `~/.docker/config.json`), looked up as docker does:
 * `credHelpers[<server>]`, else `credsStore`, else `auths[<server>]` (`auth` =
 * base64 `user:password`, or `username`/`password`, or `identitytoken`).
 * Keys may carry a scheme and path (`https://index.docker.io/v1/`); Docker
 * Hub's credentials live under `https://index.docker.io/v1/`.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { invalidArgument } from '../core/errdefs/index.js';
import { DEFAULT_DOMAIN, DOCKER_HUB_HOST } from '../core/reference/index.js';
import { helperErase, helperGet, helperStore } from './cred-helper.js';
import type { Credentials, CredentialsFn } from './credentials.js';

/** The key Docker keeps Hub's credentials under. */
export const DOCKER_HUB_CONFIG_KEY = 'https://index.docker.io/v1/';
const HUB_HOSTS = new Set([DEFAULT_DOMAIN, DOCKER_HUB_HOST, 'index.docker.io']);

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
}

export interface DockerConfig {
  auths?: Record<string, AuthEntry>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
}

/** The directory config.json is read from: `dir`, else `$DOCKER_CONFIG`, else `~/.docker`. */
export function dockerConfigDir(dir?: string): string {
  return dir ?? process.env.DOCKER_CONFIG ?? join(homedir(), '.docker');
}

/** Reads `<dir>/config.json`; undefined when there is none. */
export function readDockerConfig(dir: string): DockerConfig | undefined {
  const file = join(dir, 'config.json');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw invalidArgument(`docker config ${file}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed !== 'object' || parsed === null) throw new Error('not an object');
    return parsed as DockerConfig;
  } catch (err) {
    throw invalidArgument(`docker config ${file}: ${(err as Error).message}`, { cause: err });
  }
}

/** `https://host:5000/v1/` → `host:5000`, as docker's `ConvertToHostname`. */
export function configKeyHost(key: string): string {
  return key.replace(/^https?:\/\//, '').split('/')[0] ?? '';
}

/** The key a host's credentials are stored under (Hub's hosts → {@link DOCKER_HUB_CONFIG_KEY}). */
export function configKeyFor(host: string): string {
  return HUB_HOSTS.has(host) ? DOCKER_HUB_CONFIG_KEY : host;
}

function findEntry<T>(map: Record<string, T> | undefined, host: string): T | undefined {
  if (map === undefined) return undefined;
  const key = configKeyFor(host);
  if (Object.hasOwn(map, key)) return map[key];
  const want = configKeyHost(key);
  for (const [k, v] of Object.entries(map)) if (configKeyHost(k) === want) return v;
  return undefined;
}

function fromEntry(e: AuthEntry, where: string): Credentials | undefined {
  if (e.identitytoken) return { username: '', secret: e.identitytoken };
  if (e.auth) {
    const decoded = Buffer.from(e.auth, 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    if (i < 0)
      throw invalidArgument(`docker config ${where}: "auth" is not base64 of user:password`);
    return { username: decoded.slice(0, i), secret: decoded.slice(i + 1).replace(/\0+$/, '') };
  }
  if (e.username && e.password) return { username: e.username, secret: e.password };
  return undefined;
}

/** Credentials for `host` from a parsed config. */
export async function configCredentials(
  cfg: DockerConfig,
  host: string,
  where = 'config.json',
): Promise<Credentials | undefined> {
  const key = configKeyFor(host);
  const helper = findEntry(cfg.credHelpers, host);
  if (helper) return helperGet(helper, key);
  if (cfg.credsStore) {
    const c = await helperGet(cfg.credsStore, key);
    if (c !== undefined) return c;
  }
  const entry = findEntry(cfg.auths, host);
  return entry === undefined ? undefined : fromEntry(entry, `${where}: auths."${key}"`);
}

/** A CredentialsFn over config.json in `dir` (read at each call, so logins take effect). */
export function dockerConfigCredentials(dir?: string): CredentialsFn {
  return async (host) => {
    const d = dockerConfigDir(dir);
    const cfg = readDockerConfig(d);
    return cfg === undefined ? undefined : configCredentials(cfg, host, join(d, 'config.json'));
  };
}

/**
 * Reads `<dir>/config.json` as a plain object, every key kept (docker's
 * `psFormat`, `proxies`, … are not berth's to drop); `{}` when there is none.
 */
function readRawConfig(dir: string): Record<string, unknown> {
  const cfg = readDockerConfig(dir);
  return (cfg ?? {}) as Record<string, unknown>;
}

/**
 * Writes `<dir>/config.json` as docker does: mode 0600, through a temporary
 * file renamed over the old one, so a reader never sees half a file and a
 * failed write leaves the old one.
 */
export function writeDockerConfig(dir: string, cfg: Record<string, unknown>): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, 'config.json');
  const tmp = join(dir, `.config.json.${process.pid}.${randomBytes(4).toString('hex')}`);
  try {
    writeFileSync(tmp, `${JSON.stringify(cfg, null, '\t')}\n`, { mode: 0o600, flag: 'wx' });
    chmodSync(tmp, 0o600);
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw invalidArgument(`docker config ${file}: ${(err as Error).message}`, { cause: err });
  }
}

/** The credential helper that holds `host`'s credentials (`credHelpers`, else `credsStore`), if any. */
export function helperFor(cfg: DockerConfig, host: string): string | undefined {
  return findEntry(cfg.credHelpers, host) || cfg.credsStore || undefined;
}

/**
 * Stores `host`'s credentials as `docker login` does: through its credential
 * helper when config.json names one (`docker-credential-<name> store`),
 * else as `auths.<key>.auth` = base64 `user:password`. Every other key of
 * config.json is kept. Answers where they went.
 */
export async function storeDockerCredentials(
  dir: string,
  host: string,
  creds: { username: string; secret: string },
): Promise<{ key: string; helper?: string }> {
  const raw = readRawConfig(dir);
  const key = configKeyFor(host);
  const helper = helperFor(raw as DockerConfig, host);
  const auths = { ...((raw.auths as Record<string, AuthEntry> | undefined) ?? {}) };
  // Entries spelled differently for the same host (`http://h/v1/`) go: one key per host.
  for (const k of Object.keys(auths)) if (configKeyHost(k) === configKeyHost(key)) delete auths[k];
  if (helper !== undefined) {
    await helperStore(helper, key, creds.username, creds.secret);
    auths[key] = {}; // docker keeps an empty entry: `docker login` lists the host as logged in
  } else {
    auths[key] = {
      auth: Buffer.from(`${creds.username}:${creds.secret}`).toString('base64'),
    };
  }
  writeDockerConfig(dir, { ...raw, auths });
  return helper === undefined ? { key } : { key, helper };
}

/**
 * Removes `host`'s credentials (`docker logout`): its `auths` entry, and
 * from its credential helper (`erase`). Answers false when there were none.
 */
export async function eraseDockerCredentials(dir: string, host: string): Promise<boolean> {
  const raw = readRawConfig(dir);
  const key = configKeyFor(host);
  const helper = helperFor(raw as DockerConfig, host);
  const auths = { ...((raw.auths as Record<string, AuthEntry> | undefined) ?? {}) };
  let found = false;
  for (const k of Object.keys(auths)) {
    if (configKeyHost(k) === configKeyHost(key)) {
      delete auths[k];
      found = true;
    }
  }
  if (helper !== undefined) found = (await helperErase(helper, key)) || found;
  if (found && readDockerConfig(dir) !== undefined) writeDockerConfig(dir, { ...raw, auths });
  return found;
}
