/**
 * @module remotes
 * berth's registry client: core's {@link Resolver}, {@link Fetcher} and
 * {@link Pusher} for OCI distribution and Docker registry v2, with
 * containerd's hosts.toml configuration, Docker's credentials (config.json
 * and credential helpers) and token auth. Used by berthd's Transfer service
 * and by the client library.
 *
 * @example
 * ```ts
 * const resolver = newResolver({ hostsDir: '/etc/berth/certs.d' });
 * const { name, desc } = await resolver.resolve('busybox');
 * const fetcher = await resolver.fetcher(name);
 * for await (const chunk of fetcher.fetch(desc)) write(chunk);
 * ```
 */
import { invalidArgument } from '../core/errdefs/index.js';
import type { Logger } from '../core/log/index.js';
import { parseReference, type Reference } from '../core/reference/index.js';
import type { Fetcher, Pusher, RemoteOptions, Resolved, Resolver } from '../core/remotes/index.js';
import { Authorizer } from './auth.js';
import type { CredentialsFn } from './credentials.js';
import { dockerConfigCredentials } from './docker-config.js';
import { fetchBlob } from './fetcher.js';
import { registryHosts } from './hosts.js';
import type { Headers } from './http.js';
import { type PushTuning, push } from './pusher.js';
import { Repository } from './repository.js';
import { resolve } from './resolver.js';
import { DEFAULT_RETRY, type RetryPolicy } from './retry.js';
import { Transport } from './transport.js';

export type { Credentials, CredentialsFn } from './credentials.js';
export {
  configKeyFor,
  DOCKER_HUB_CONFIG_KEY,
  dockerConfigCredentials,
  dockerConfigDir,
  eraseDockerCredentials,
  readDockerConfig,
  storeDockerCredentials,
} from './docker-config.js';
export { checkLogin, type LoginCheckOptions } from './login.js';
export type { RetryPolicy } from './retry.js';

/** Sent unless `headers` names another. */
export const USER_AGENT = 'berth/0.1';

export interface RegistryOptions {
  /** containerd's hosts.toml dir (`<dir>/<host>/hosts.toml`, `_default`); berthd: /etc/berth/certs.d. */
  hostsDir?: string;
  /** Explicit credentials, asked by endpoint host; else Docker's config.json. */
  credentials?: CredentialsFn;
  /** The directory of config.json (default `$DOCKER_CONFIG`, else `~/.docker`), or false to never read it. */
  dockerConfig?: string | false;
  /** Extra headers for every request (User-Agent etc.). */
  headers?: Record<string, string>;
  /** Plain HTTP for endpoints hosts.toml does not give a scheme (ctr's --plain-http). */
  plainHttp?: boolean;
  /** Skip TLS verification where hosts.toml does not say otherwise. */
  skipVerify?: boolean;
  log?: Logger;
  /** Retry and resume bounds (tests shorten the backoff). */
  retry?: Partial<RetryPolicy>;
  /** A socket silent this long fails its request (retryable); default 30 s. */
  idleTimeoutMs?: number;
  /** Upload sizes (tests exercise chunked uploads with small blobs). */
  push?: PushTuning;
}

function parse(ref: string): Reference {
  try {
    return parseReference(ref);
  } catch (err) {
    throw invalidArgument(`resolve: ${(err as Error).message}`, { cause: err });
  }
}

class RegistryResolver implements Resolver {
  private readonly transport: Transport;

  constructor(private readonly opts: RegistryOptions) {
    const credentials =
      opts.credentials ??
      (opts.dockerConfig === false ? undefined : dockerConfigCredentials(opts.dockerConfig));
    const headers: Headers = { 'user-agent': USER_AGENT };
    for (const [k, v] of Object.entries(opts.headers ?? {})) headers[k.toLowerCase()] = v;
    const authorizer = new Authorizer({
      ...(credentials ? { credentials } : {}),
      headers: { 'user-agent': headers['user-agent'] as string },
      ...(opts.log ? { log: opts.log } : {}),
    });
    this.transport = new Transport({
      authorizer,
      headers,
      retry: { ...DEFAULT_RETRY, ...opts.retry },
      ...(opts.log ? { log: opts.log } : {}),
      ...(opts.idleTimeoutMs ? { idleTimeoutMs: opts.idleTimeoutMs } : {}),
    });
  }

  private repository(ref: string): Repository {
    const r = parse(ref);
    const hosts = registryHosts(r.domain, {
      ...(this.opts.hostsDir ? { hostsDir: this.opts.hostsDir } : {}),
      ...(this.opts.plainHttp ? { plainHttp: true } : {}),
      ...(this.opts.skipVerify ? { skipVerify: true } : {}),
    });
    return new Repository(this.transport, r, hosts);
  }

  async resolve(ref: string, opts?: RemoteOptions): Promise<Resolved> {
    const repo = this.repository(ref);
    if (repo.ref.tag === undefined && repo.ref.digest === undefined) {
      return resolve(this.repository(`${ref}:latest`), opts);
    }
    return resolve(repo, opts);
  }

  async fetcher(ref: string): Promise<Fetcher> {
    const repo = this.repository(ref);
    return { fetch: (desc, opts) => fetchBlob(repo, desc, opts) };
  }

  async pusher(ref: string): Promise<Pusher> {
    const repo = this.repository(ref);
    const tuning = this.opts.push ?? {};
    return { push: (desc, data, opts) => push(repo, desc, data, opts, tuning) };
  }
}

/** A Resolver for OCI / Docker registries (core's remotes contract). */
export function newResolver(opts: RegistryOptions = {}): Resolver {
  return new RegistryResolver(opts);
}
