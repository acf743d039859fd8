/**
 * Which endpoints serve a registry domain, from containerd's registry host
 * configuration (`<hostsDir>/<host>/hosts.toml`, the `certs.d` layout):
 *
 * - the directory is the first of `<dir>/<host>_<port>_`, `<dir>/<host:port>`,
 *   `<dir>/<host>` and `<dir>/_default` that exists;
 * - `[host."<url>"]` tables are mirrors, tried in file order, then the
 *   `server` (default: the domain itself; `registry-1.docker.io` for docker.io);
 * - per endpoint: `capabilities` (pull, resolve, push), `ca` (a file or a
 *   list), `client` (a file, a list of files, or [cert, key] pairs),
 *   `skip_verify`, `header`, `override_path` (the URL's path is the API root
 *   as is, instead of `<path>/v2`);
 * - a URL without a scheme is https; `http://` means plain HTTP;
 * - a directory without hosts.toml is read as Docker's certs.d (`*.crt` CAs,
 *   `*.cert` + `*.key` client pairs) for the default endpoint.
 *
 * Without configuration, localhost and loopback addresses with a port other
 * than 443 are plain HTTP. (containerd tries HTTPS first there, skipping
 * verification, and falls back to HTTP when the server answers in plain text;
 * berth goes straight to HTTP: local registries are almost always plain, and
 * one that is not can say `https://` in hosts.toml.)
 */

import { X509Certificate } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { isIP } from 'node:net';
import { isAbsolute, join } from 'node:path';
import { createSecureContext, rootCertificates } from 'node:tls';
import { parse as parseToml } from 'smol-toml';
import { invalidArgument } from '../core/errdefs/index.js';
import { DEFAULT_DOMAIN, DOCKER_HUB_HOST } from '../core/reference/index.js';

export type Capability = 'pull' | 'resolve' | 'push';
const ALL_CAPABILITIES: readonly Capability[] = ['pull', 'resolve', 'push'];

/** One endpoint serving a registry domain. */
export interface RegistryHost {
  scheme: 'http' | 'https';
  /** `host[:port]` as it appears in URLs; the key for its credentials and tokens. */
  host: string;
  /** API root: `/v2`, or a mirror's path (`/v2` appended unless override_path). */
  path: string;
  capabilities: ReadonlySet<Capability>;
  /** Extra headers for every request to this endpoint. */
  header: Record<string, string[]>;
  /** The connection pool (TLS settings included). */
  agent: HttpAgent;
}

/** An endpoint as configured, before its files are read. */
export interface HostConfig {
  scheme?: 'http' | 'https';
  host?: string;
  path?: string;
  capabilities: Capability[];
  caCerts?: string[];
  /** [cert, key] file pairs; key '' when the cert file holds the key. */
  clientPairs?: [string, string][];
  skipVerify?: boolean;
  header?: Record<string, string[]>;
}

export interface HostsOptions {
  /** containerd's hosts dir (`/etc/containerd/certs.d`); none: defaults only. */
  hostsDir?: string;
  /** Default scheme for the default endpoint (`http` for `--plain-http`). */
  plainHttp?: boolean;
  /** Skip TLS verification wherever hosts.toml does not say otherwise. */
  skipVerify?: boolean;
}

/** True for `localhost` and loopback addresses, with or without a port. */
export function isLocalhost(host: string): boolean {
  const h = splitHostPort(host).hostname;
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || h === '0:0:0:0:0:0:0:1';
  return false;
}

/** `[::1]:5000` → `::1`, `5000`; `host` → `host`, ''. */
export function splitHostPort(host: string): { hostname: string; port: string } {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(host);
  if (m) return { hostname: m[1] ?? '', port: m[2] ?? '' };
  const i = host.lastIndexOf(':');
  if (i >= 0 && host.indexOf(':') === i)
    return { hostname: host.slice(0, i), port: host.slice(i + 1) };
  return { hostname: host, port: '' };
}

/** The candidate configuration directories for `host`, most specific first. */
export function hostDirCandidates(root: string, host: string): string[] {
  const out: string[] = [];
  const i = host.lastIndexOf(':');
  if (i > 0) out.push(join(root, `${host.slice(0, i)}_${host.slice(i + 1)}_`));
  out.push(join(root, host));
  out.push(join(root, '_default'));
  return out;
}

/** The configured endpoints of `domain` (mirrors first, the server last), or undefined when none is configured. */
export function loadHostConfigs(root: string, domain: string): HostConfig[] | undefined {
  for (const dir of hostDirCandidates(root, domain)) {
    if (!existsSync(dir)) continue;
    const file = join(dir, 'hosts.toml');
    if (existsSync(file)) return parseHostsToml(readFileSync(file, 'utf8'), dir, file);
    return loadCertFiles(dir);
  }
  return undefined;
}

/**
 * Parses a hosts.toml: the `[host."…"]` tables in file order, then the root
 * (`server` and top-level settings). Errors name the file and the key.
 */
export function parseHostsToml(text: string, baseDir: string, file = 'hosts.toml'): HostConfig[] {
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text) as Record<string, unknown>;
  } catch (err) {
    throw invalidArgument(`${file}: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  }
  const out: HostConfig[] = [];
  const hosts = doc.host;
  if (hosts !== undefined) {
    if (typeof hosts !== 'object' || hosts === null || Array.isArray(hosts)) {
      throw invalidArgument(`${file}: "host" must be a table of [host."<url>"] tables`);
    }
    // smol-toml keeps tables in document order, which is the order mirrors are tried in.
    for (const [url, table] of Object.entries(hosts as Record<string, unknown>)) {
      if (typeof table !== 'object' || table === null || Array.isArray(table)) {
        throw invalidArgument(`${file}: host."${url}" must be a table`);
      }
      out.push(
        parseHostTable(url, table as Record<string, unknown>, baseDir, `${file}: host."${url}"`),
      );
    }
  }
  const server = doc.server;
  if (server !== undefined && typeof server !== 'string') {
    throw invalidArgument(`${file}: "server" must be a string`);
  }
  out.push(parseHostTable(server ?? '', doc, baseDir, file));
  return out;
}

function parseHostTable(
  server: string,
  t: Record<string, unknown>,
  baseDir: string,
  where: string,
): HostConfig {
  const cfg: HostConfig = { capabilities: [...ALL_CAPABILITIES] };
  const overridePath = t.override_path;
  if (overridePath !== undefined && typeof overridePath !== 'boolean') {
    throw invalidArgument(`${where}: "override_path" must be a boolean`);
  }
  if (server !== '') {
    const withScheme = /^https?:\/\//.test(server) ? server : `https://${server}`;
    let u: URL;
    try {
      u = new URL(withScheme);
    } catch {
      throw invalidArgument(`${where}: bad server URL "${server}"`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') {
      throw invalidArgument(`${where}: server URL "${server}" is neither http nor https`);
    }
    cfg.scheme = u.protocol === 'http:' ? 'http' : 'https';
    cfg.host = u.host;
    let p = u.pathname.replace(/\/+$/, '').replace(/\/{2,}/g, '/');
    if (!overridePath && !p.endsWith('/v2')) p = `${p}/v2`;
    cfg.path = p;
  }
  if (t.capabilities !== undefined) {
    if (!Array.isArray(t.capabilities)) {
      throw invalidArgument(`${where}: "capabilities" must be a list`);
    }
    cfg.capabilities = t.capabilities.map((c) => {
      const s = String(c).toLowerCase();
      if (s !== 'pull' && s !== 'resolve' && s !== 'push') {
        throw invalidArgument(`${where}: unknown capability "${String(c)}"`);
      }
      return s;
    });
  }
  if (t.skip_verify !== undefined) {
    if (typeof t.skip_verify !== 'boolean') {
      throw invalidArgument(`${where}: "skip_verify" must be a boolean`);
    }
    cfg.skipVerify = t.skip_verify;
  }
  const abs = (p: string) => (isAbsolute(p) ? p : join(baseDir, p));
  if (t.ca !== undefined) {
    if (typeof t.ca === 'string') cfg.caCerts = [abs(t.ca)];
    else if (Array.isArray(t.ca) && t.ca.every((x) => typeof x === 'string')) {
      cfg.caCerts = (t.ca as string[]).map(abs);
    } else throw invalidArgument(`${where}: "ca" must be a file or a list of files`);
  }
  if (t.client !== undefined) {
    const bad = () =>
      invalidArgument(`${where}: "client" must be a file, a list of files or [cert, key] pairs`);
    if (typeof t.client === 'string') cfg.clientPairs = [[abs(t.client), '']];
    else if (Array.isArray(t.client)) {
      cfg.clientPairs = t.client.map((p): [string, string] => {
        if (typeof p === 'string') return [abs(p), ''];
        if (Array.isArray(p) && p.length === 2 && p.every((x) => typeof x === 'string')) {
          return [abs(p[0] as string), abs(p[1] as string)];
        }
        throw bad();
      });
    } else throw bad();
  }
  if (t.header !== undefined) {
    if (typeof t.header !== 'object' || t.header === null || Array.isArray(t.header)) {
      throw invalidArgument(`${where}: "header" must be a table`);
    }
    cfg.header = {};
    for (const [k, v] of Object.entries(t.header as Record<string, unknown>)) {
      if (typeof v === 'string') cfg.header[k] = [v];
      else if (Array.isArray(v) && v.every((x) => typeof x === 'string'))
        cfg.header[k] = v as string[];
      else throw invalidArgument(`${where}: header "${k}" must be a string or a list of strings`);
    }
  }
  return cfg;
}

/** Docker's certs.d layout: `*.crt` are CAs, `*.cert` client certs with their `*.key`. */
function loadCertFiles(dir: string): HostConfig[] {
  const cfg: HostConfig = { capabilities: [...ALL_CAPABILITIES] };
  if (!statSync(dir).isDirectory()) return [cfg];
  const cas: string[] = [];
  const pairs: [string, string][] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (name.endsWith('.crt')) cas.push(p);
    if (name.endsWith('.cert')) {
      const key = join(dir, `${name.slice(0, -'.cert'.length)}.key`);
      pairs.push([p, existsSync(key) ? key : '']);
    }
  }
  if (cas.length > 0) cfg.caCerts = cas;
  if (pairs.length > 0) cfg.clientPairs = pairs;
  return [cfg];
}

/** Completes the default endpoint (no `server`): the domain itself, its scheme by containerd's rules. */
function defaultServer(cfg: HostConfig, domain: string, opts: HostsOptions): void {
  cfg.path ??= '/v2';
  if (domain === DEFAULT_DOMAIN) {
    cfg.scheme = 'https';
    cfg.host = DOCKER_HUB_HOST;
    return;
  }
  cfg.host = domain;
  if (opts.plainHttp) cfg.scheme = 'http';
  else if (isLocalhost(domain)) {
    const { port } = splitHostPort(domain);
    cfg.scheme = port === '' || port === '443' ? 'https' : 'http';
    if (cfg.scheme === 'https') cfg.skipVerify ??= true;
  } else cfg.scheme = 'https';
}

function readFile(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw invalidArgument(`unable to read ${what} "${path}": ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/** A CA file's certificates, checked (node would otherwise ignore a bad one until the handshake). */
function readCa(path: string): Buffer {
  const pem = readFile(path, 'CA certificate');
  const blocks =
    pem.toString().match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  try {
    if (blocks.length === 0) throw new Error('no PEM certificate in it');
    for (const b of blocks) new X509Certificate(b);
  } catch (err) {
    throw invalidArgument(`unable to load CA cert "${path}": ${(err as Error).message}`, {
      cause: err,
    });
  }
  return pem;
}

/**
 * CAs to add to the roots from the file `BERTH_EXTRA_CA_CERTS` names (the
 * berth command line moves NODE_EXTRA_CA_CERTS there, sparing node parsing
 * it at every start), read on first use; none when unset or unreadable.
 */
let extraCas: string[] | undefined;
function extraCaCerts(): string[] {
  if (extraCas !== undefined) return extraCas;
  extraCas = [];
  const file = process.env.BERTH_EXTRA_CA_CERTS;
  if (file) {
    try {
      const pem = readFileSync(file, 'utf8');
      extraCas = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    } catch {
      // as node does with a bad NODE_EXTRA_CA_CERTS: a warning at most, the default roots
    }
  }
  return extraCas;
}

const plainAgent = new HttpAgent({ keepAlive: true, maxSockets: 32 });
const agents = new Map<string, HttpAgent>();

/** A pooled agent per TLS configuration (shared by resolvers with the same settings). */
function agentFor(cfg: HostConfig, opts: HostsOptions): HttpAgent {
  if (cfg.scheme === 'http') return plainAgent;
  const skip = cfg.skipVerify ?? opts.skipVerify ?? false;
  const key = JSON.stringify([cfg.caCerts ?? [], cfg.clientPairs ?? [], skip]);
  const have = agents.get(key);
  if (have) return have;
  const extra = extraCaCerts();
  const own = cfg.caCerts?.map((f) => readCa(f).toString());
  const ca = own !== undefined || extra.length > 0 ? [...extra, ...(own ?? [])] : undefined;
  const pairs = cfg.clientPairs?.map(([c, k]) => {
    const cert = readFile(c, 'client certificate');
    const key = k === '' ? cert : readFile(k, 'client key');
    try {
      createSecureContext({ cert, key });
    } catch (err) {
      throw invalidArgument(`unable to load X509 key pair "${c}": ${(err as Error).message}`, {
        cause: err,
      });
    }
    return { cert, key };
  });
  const agent = new HttpsAgent({
    keepAlive: true,
    maxSockets: 32,
    rejectUnauthorized: !skip,
    // Added to the system roots, as containerd appends to the system pool.
    ...(ca ? { ca: [...rootCertificates, ...ca] } : {}),
    ...(pairs && pairs.length > 0
      ? { cert: pairs.map((p) => p.cert), key: pairs.map((p) => p.key) }
      : {}),
  });
  agents.set(key, agent);
  return agent;
}

/**
 * The endpoints for `domain`, in the order they are tried: hosts.toml's
 * mirrors, then the server. Files (CAs, client certs) are read here, so a
 * bad path fails before any request.
 */
export function registryHosts(domain: string, opts: HostsOptions = {}): RegistryHost[] {
  const configs = (opts.hostsDir ? loadHostConfigs(opts.hostsDir, domain) : undefined) ?? [
    { capabilities: [...ALL_CAPABILITIES] },
  ];
  const last = configs[configs.length - 1];
  if (last !== undefined && last.host === undefined) defaultServer(last, domain, opts);
  return configs.map((cfg) => ({
    scheme: cfg.scheme ?? 'https',
    host: cfg.host ?? domain,
    path: cfg.path ?? '/v2',
    capabilities: new Set(cfg.capabilities),
    header: cfg.header ?? {},
    agent: agentFor(cfg, opts),
  }));
}

/** containerd's `isProxy`: the endpoint is not the domain's own server (requests then carry `?ns=<domain>`). */
export function isMirror(h: RegistryHost, domain: string): boolean {
  return h.host !== domain && !(domain === DEFAULT_DOMAIN && h.host === DOCKER_HUB_HOST);
}
