/**
 * @module
 * The client's image verbs (containerd's `client.Pull`, `Push`, `Import`,
 * `Export`), run client-side: `src/images` over the gRPC proxies, with
 * `src/remotes` talking to the registry from this process. `{ remote: true }`
 * pulls through the daemon's Transfer service instead (remote-pull.ts).
 */
import type { Descriptor } from '../core/content/index.js';
import { invalidArgument } from '../core/errdefs/index.js';
import type { Labels } from '../core/labels/index.js';
import { defaultSpec, format, normalize, parse } from '../core/platforms/index.js';
import { parseReference, registryHost } from '../core/reference/index.js';
import type { Resolver } from '../core/remotes/index.js';
import type { ProgressFn } from '../core/transfer/index.js';
import { exportArchive, importArchive, pull, push } from '../images/index.js';
import type { Credentials, CredentialsFn } from '../remotes/index.js';
import type { Client } from './client.js';
import { DEFAULT_SNAPSHOTTER } from './container-opts.js';
import { Image } from './image.js';

/** How to reach and authenticate to registries (containerd's resolver options). */
export interface RegistryOpts {
  /** containerd's hosts.toml directory (`<dir>/<host>/hosts.toml`). */
  hostsDir?: string;
  /**
   * Credentials: a function asked per registry host, or one username and
   * secret for the reference's own registry (never sent to another host or
   * a mirror). Default: Docker's config.json.
   */
  credentials?: CredentialsFn | Credentials;
  /** The directory of Docker's config.json (default `$DOCKER_CONFIG`, else `~/.docker`), or false to never read it. */
  dockerConfig?: string | false;
  /** Plain HTTP for every registry hosts.toml says nothing about (localhost is always plain). */
  plainHttp?: boolean;
  skipVerify?: boolean;
  headers?: Record<string, string>;
  /** A resolver of one's own (containerd's `WithResolver`); the options above are then unused. */
  resolver?: Resolver;
}

/** Options of `client.pull` (containerd's `RemoteOpt`s for `Pull`). */
export interface PullOpts extends RegistryOpts {
  /** Unpack into the snapshotter once fetched (containerd's `WithPullUnpack`). */
  unpack?: boolean;
  /** The platform to pull (`linux/arm64`); default the host's. */
  platform?: string;
  /** Fetch every platform (unpack still only the one asked). */
  allPlatforms?: boolean;
  /** The snapshotter to unpack into; default overlayfs. */
  snapshotter?: string;
  /** Labels of the image record. */
  labels?: Labels;
  maxConcurrentDownloads?: number;
  onProgress?: ProgressFn;
  signal?: AbortSignal;
  /** Pull through the daemon's Transfer service (containerd 1.7's, berthd's) instead of here. */
  remote?: boolean;
}

/** Options of `client.push` (containerd's `RemoteOpt`s for `Push`). */
export interface PushOpts extends RegistryOpts {
  /** The image to push; default the image named `ref`. */
  image?: Image | string;
  /** Push only these platforms (default: what the image has). */
  platforms?: string[];
  maxConcurrentUploads?: number;
  onProgress?: ProgressFn;
  signal?: AbortSignal;
}

/** Options of `client.import` (containerd's `ImportOpt`s). */
export interface ImportOpts {
  /** Unpack the imported images into the snapshotter. */
  unpack?: boolean;
  snapshotter?: string;
  /** The platform to import (default the host's). */
  platform?: string;
  allPlatforms?: boolean;
  /** Names images whose archive entries carry only a tag (`<baseName>:<tag>`). */
  baseName?: string;
  /** An image record naming the whole archive's index. */
  indexName?: string;
  /** Also records named by digest (ctr --digests). */
  digests?: boolean;
  labels?: Labels;
  onProgress?: ProgressFn;
  signal?: AbortSignal;
}

/** Options of `client.export` (containerd's `ExportOpt`s). */
export interface ExportOpts {
  /** Platforms to export (default the host's). */
  platforms?: string[];
  allPlatforms?: boolean;
  /** Leave out blobs the content store does not have instead of failing. */
  skipMissing?: boolean;
  /** Leave out Docker's manifest.json (an OCI layout only). */
  skipDockerManifest?: boolean;
  onProgress?: ProgressFn;
  signal?: AbortSignal;
}

/**
 * The resolver a pull or push uses. The registry client (and node's https)
 * is loaded only now: most commands of a short-lived program never reach a
 * registry.
 */
export async function resolverFor(ref: string, opts: RegistryOpts): Promise<Resolver> {
  if (opts.resolver !== undefined) return opts.resolver;
  const { newResolver } = await import('../remotes/index.js');
  return newResolver({
    ...(opts.hostsDir !== undefined && { hostsDir: opts.hostsDir }),
    ...(opts.credentials !== undefined && { credentials: credentialsFn(ref, opts.credentials) }),
    ...(opts.dockerConfig !== undefined && { dockerConfig: opts.dockerConfig }),
    ...(opts.plainHttp !== undefined && { plainHttp: opts.plainHttp }),
    ...(opts.skipVerify !== undefined && { skipVerify: opts.skipVerify }),
    ...(opts.headers !== undefined && { headers: opts.headers }),
  });
}

/** Static credentials belong to the reference's registry only. */
export function credentialsFn(ref: string, creds: CredentialsFn | Credentials): CredentialsFn {
  if (typeof creds === 'function') return creds;
  const domain = parseReference(ref).domain;
  const hosts = new Set([domain, registryHost(domain)]);
  return async (host) => (hosts.has(host) ? creds : undefined);
}

/** `linux/amd64` normalized, or the host's. */
export function platformOf(platform: string | undefined): string {
  return format(platform === undefined ? defaultSpec() : normalize(parse(platform)));
}

export async function clientPull(client: Client, ref: string, opts: PullOpts): Promise<Image> {
  const platform = platformOf(opts.platform);
  const snapshotter = opts.snapshotter ?? DEFAULT_SNAPSHOTTER;
  const record = await pull(
    client.context(opts.signal),
    client.imageStores(),
    await resolverFor(ref, opts),
    ref,
    {
      ...(opts.allPlatforms ? { allPlatforms: true } : { platforms: [platform] }),
      ...(opts.unpack === true && { unpack: [{ snapshotter, platform }] }),
      ...(opts.labels !== undefined && { labels: opts.labels }),
      ...(opts.maxConcurrentDownloads !== undefined && {
        maxConcurrentDownloads: opts.maxConcurrentDownloads,
      }),
      ...(opts.onProgress !== undefined && { onProgress: opts.onProgress }),
    },
  );
  return new Image(client, record, platform);
}

export async function clientPush(client: Client, ref: string, opts: PushOpts): Promise<void> {
  const image =
    opts.image instanceof Image
      ? opts.image.record
      : await client.imageService().get(client.context(opts.signal), opts.image ?? ref);
  await push(
    client.context(opts.signal),
    client.imageStores(),
    await resolverFor(ref, opts),
    ref,
    image,
    {
      ...(opts.platforms !== undefined && { platforms: opts.platforms.map(platformOf) }),
      ...(opts.maxConcurrentUploads !== undefined && {
        maxConcurrentUploads: opts.maxConcurrentUploads,
      }),
      ...(opts.onProgress !== undefined && { onProgress: opts.onProgress }),
    },
  );
}

export async function clientImport(
  client: Client,
  input: AsyncIterable<Uint8Array>,
  opts: ImportOpts,
): Promise<Image[]> {
  const platform = platformOf(opts.platform);
  const records = await importArchive(
    client.context(opts.signal),
    client.imageStores(),
    buffers(input),
    {
      ...(opts.allPlatforms ? { allPlatforms: true } : { platforms: [platform] }),
      ...(opts.unpack === true && {
        unpack: [{ snapshotter: opts.snapshotter ?? DEFAULT_SNAPSHOTTER, platform }],
      }),
      ...(opts.baseName !== undefined && { baseName: opts.baseName }),
      ...(opts.indexName !== undefined && { indexName: opts.indexName }),
      ...(opts.digests !== undefined && { digests: opts.digests }),
      ...(opts.labels !== undefined && { labels: opts.labels }),
      ...(opts.onProgress !== undefined && { onProgress: opts.onProgress }),
    },
  );
  return records.map((r) => new Image(client, r, platform));
}

export async function clientExport(
  client: Client,
  output: NodeJS.WritableStream,
  refs: readonly (string | Image)[],
  opts: ExportOpts,
): Promise<void> {
  if (refs.length === 0) throw invalidArgument('export: no images named');
  const ctx = client.context(opts.signal);
  const images: { name: string; target: Descriptor }[] = [];
  for (const r of refs) {
    images.push(r instanceof Image ? r.record : await client.imageService().get(ctx, r));
  }
  await exportArchive(ctx, client.imageStores(), output, images, {
    ...(opts.allPlatforms
      ? { allPlatforms: true }
      : opts.platforms !== undefined && { platforms: opts.platforms.map(platformOf) }),
    ...(opts.skipMissing !== undefined && { skipMissing: opts.skipMissing }),
    ...(opts.skipDockerManifest !== undefined && { skipDockerManifest: opts.skipDockerManifest }),
    ...(opts.onProgress !== undefined && { onProgress: opts.onProgress }),
  });
}

/** Node readables give Buffers; any Uint8Array chunks are viewed as Buffers. */
async function* buffers(input: AsyncIterable<Uint8Array>): AsyncGenerator<Buffer> {
  for await (const chunk of input) {
    yield Buffer.isBuffer(chunk)
      ? chunk
      : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  }
}
