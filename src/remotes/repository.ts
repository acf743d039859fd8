/**
 * One repository on one registry domain, as the resolver, fetcher and pusher
 * see it: its endpoints (mirrors first), URLs under each endpoint's API root,
 * and the token scopes its operations need.
 */
import { type Reference, referenceString } from '../core/reference/index.js';
import { type Capability, isMirror, type RegistryHost } from './hosts.js';
import type { Transport } from './transport.js';

/** Media types of manifests and indexes, fetched from `/manifests/` and pushed there. */
export const MANIFEST_MEDIA_TYPES = [
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
] as const;

/** What resolve accepts, containerd's list with `*` last. */
export const RESOLVE_ACCEPT = [...MANIFEST_MEDIA_TYPES, '*/*'].join(', ');

/** containerd's `MaxManifestSize`: a larger manifest is refused (it is read into memory). */
export const MAX_MANIFEST_SIZE = 4 * 1048 * 1048;

export function isManifestType(mediaType: string): boolean {
  return (MANIFEST_MEDIA_TYPES as readonly string[]).includes(mediaType);
}

export function pullScope(repo: string): string {
  return `repository:${repo}:pull`;
}

export function pushScope(repo: string): string {
  return `repository:${repo}:pull,push`;
}

export class Repository {
  constructor(
    readonly transport: Transport,
    readonly ref: Reference,
    readonly hosts: readonly RegistryHost[],
  ) {}

  /** `docker.io/library/busybox:latest`, as given (tag and digest kept). */
  get name(): string {
    return referenceString(this.ref);
  }

  get repo(): string {
    return this.ref.path;
  }

  /** Endpoints that have every capability in `caps`, in order. */
  hostsWith(...caps: Capability[]): RegistryHost[] {
    return this.hosts.filter((h) => caps.every((c) => h.capabilities.has(c)));
  }

  /**
   * `<scheme>://<host><root>/<repo>/<parts>`; a mirror also gets `?ns=<domain>`
   * (containerd's hint that tells a pull-through proxy which registry is meant).
   */
  url(host: RegistryHost, parts: string, query?: Record<string, string>): URL {
    const u = new URL(`${host.scheme}://${host.host}${host.path}/${this.repo}/${parts}`);
    if (isMirror(host, this.ref.domain)) u.searchParams.set('ns', this.ref.domain);
    for (const [k, v] of Object.entries(query ?? {})) u.searchParams.set(k, v);
    return u;
  }
}
