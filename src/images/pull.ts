/**
 * @module
 * Pull: containerd's client.Pull with its handlers and 1.7's unpacker, over
 * core's contracts. Resolve the reference; fetch the root; walk index →
 * manifests (platform-filtered) → config → layers, writing every blob
 * through the content store (ingest refs `index-…`, `manifest-…`,
 * `config-…`, `layer-…`, the expected digest and size; `already_exists` =
 * have it; a partial ingest resumed); label as containerd does
 * (`containerd.io/distribution.source.<host>` on every blob,
 * `containerd.io/gc.ref.content.*` on indexes and manifests); unpack while
 * later layers still download; then create (or update) the image record.
 * All of it under a lease: the caller's, or a temporary one deleted at the end.
 */
import type { ContentStore, Descriptor } from '../core/content/index.js';
import { isAlreadyExists, notFound } from '../core/errdefs/index.js';
import type { Image } from '../core/images/index.js';
import type { Labels } from '../core/labels/index.js';
import { validateLabel } from '../core/labels/index.js';
import type { OpContext } from '../core/namespaces/index.js';
import {
  all,
  defaultSpec,
  format,
  type MatchComparer,
  matcherFor,
  only,
  parse,
} from '../core/platforms/index.js';
import type { Fetcher, Resolver } from '../core/remotes/index.js';
import type { ImageStores, ProgressFn } from '../core/transfer/index.js';
import { setLabels, writeBlob } from './blobs.js';
import { KeyedMutex, Limiter, TaskGroup, withKey } from './concurrency.js';
import { withLease } from './lease.js';
import {
  filterManifests,
  type PlatformDescriptor,
  plainDescriptor,
  platformMatches,
  readConfig,
  readIndex,
  readManifest,
} from './manifest.js';
import { childrenLabels, isIndex, isManifest, refKey } from './media-types.js';
import { splitName } from './names.js';
import { BlobProgress } from './progress.js';
import { putImage } from './records.js';
import { configPlatform, unpackLayers } from './unpack.js';

export interface UnpackTarget {
  snapshotter: string;
  /** Default: the host's platform. */
  platform?: string;
}

export interface PullOptions {
  /** `linux/amd64`, `linux/arm64/v8`; default the host's; ignored with allPlatforms. */
  platforms?: string[];
  /** Fetch every platform's manifests and layers. */
  allPlatforms?: boolean;
  /** Unpack for these (each manifest is unpacked by the first whose platform matches its config). */
  unpack?: UnpackTarget[];
  /**
   * containerd's transfer image store `all_metadata`: the manifests and
   * configs of every platform are fetched, the layers (and unpacks) only of
   * the platforms selected.
   */
  allMetadata?: boolean;
  /**
   * At most this many manifests of an index, best match first (containerd's
   * LimitManifests, its `manifest_limit`); replaces the default of the one
   * best manifest when a single platform is asked.
   */
  manifestLimit?: number;
  /** The image record's name; default the resolved (normalized) reference. */
  name?: string;
  /** The image record's labels. */
  labels?: Labels;
  /** Blobs transferred at once; default 3. */
  maxConcurrentDownloads?: number;
  onProgress?: ProgressFn;
}

/** The distribution-source label of a reference: key by host name, value the repository. */
export function distributionSource(ref: string): { key: string; repo: string } {
  const p = splitName(ref);
  return { key: `containerd.io/distribution.source.${p.hostname}`, repo: p.path };
}

/** Adds `repo` to a comma-separated, sorted, deduplicated list (containerd's rule). */
export function appendSource(existing: string | undefined, repo: string): string {
  const repos = new Set(existing ? existing.split(',') : []);
  repos.add(repo);
  return [...repos].sort().join(',');
}

interface Fetch {
  ctx: OpContext;
  content: ContentStore;
  fetcher: Fetcher;
  limiter: Limiter;
  progress: BlobProgress;
  source: { key: string; repo: string };
  started: Map<string, Promise<void>>;
}

/**
 * The fetches of one blob in this process take turns (containerd's unpacker
 * locks a blob's descriptor likewise): the second waits for the first and
 * then finds the blob committed (`already_exists`, recorded in its namespace)
 * instead of polling the busy ingest ref with backoff, and after a failed
 * fetch it fetches the blob itself. Taken inside a download slot, as
 * containerd does; a holder's download waits on nothing of another pull.
 */
const fetching = new KeyedMutex();

/** Fetches one blob (once per pull, whoever asks), labelling it with its distribution source. */
function fetchBlob(f: Fetch, desc: Descriptor, parents: readonly string[]): Promise<void> {
  let p = f.started.get(desc.digest);
  if (!p) {
    const reporter = f.progress.blob(desc, parents);
    p = f.limiter.run(f.ctx.signal, () =>
      withKey(fetching, desc.digest, f.ctx.signal, async () => {
        const t0 = performance.now();
        const { key, repo } = f.source;
        let labels: Labels | undefined = { [key]: repo };
        try {
          validateLabel(key, repo);
        } catch {
          labels = undefined;
        }
        const wrote = await writeBlob(f.ctx, f.content, refKey(desc), desc, {
          // writeBlob commits with the expected digest: the ingest checks it, once, before the blob is visible.
          source: (offset) =>
            f.fetcher.fetch(desc, { offset, signal: f.ctx.signal, verify: false }),
          ...(labels && { labels }),
          onBytes: (n) => reporter.bytes(n),
        });
        if (!wrote && labels) {
          const info = await f.content.info(f.ctx, desc.digest);
          const value = appendSource(info.labels[key], repo);
          if (value !== info.labels[key]) {
            try {
              validateLabel(key, value);
              await setLabels(f.ctx, f.content, desc.digest, { [key]: value });
            } catch (err) {
              if (!isAlreadyExists(err))
                f.ctx.log.warn({ err }, 'skip appending distribution label');
            }
          }
        }
        reporter.done(!wrote);
        f.ctx.log.debug(
          { blob: desc.digest, size: desc.size, wrote, ms: Math.round(performance.now() - t0) },
          'pull: blob fetched',
        );
      }),
    );
    f.started.set(desc.digest, p);
  }
  return p;
}

/**
 * Pulls `ref` into the stores and returns its image record. Fails (leaving
 * nothing the lease does not hold) on a blob whose bytes do not match its
 * descriptor, a layer whose unpacked digest is not its diffID, or a
 * platform the image does not have.
 */
export async function pull(
  ctx: OpContext,
  stores: ImageStores,
  resolver: Resolver,
  ref: string,
  opts: PullOptions = {},
): Promise<Image> {
  const progress = new BlobProgress(opts.onProgress, 'downloading');
  progress.event('resolving', ref);
  const resolved = await resolver.resolve(ref, { signal: ctx.signal });
  progress.event('resolved', resolved.name, 0, 0, resolved.desc);
  const fetcher = await resolver.fetcher(resolved.name);
  const matcher: MatchComparer = opts.allPlatforms ? all : matcherFor(opts.platforms);
  // One platform asked (or the host's): the best manifest only, as client.Pull;
  // all_metadata fetches every manifest unless a limit is given.
  const limit =
    opts.manifestLimit !== undefined && opts.manifestLimit > 0
      ? opts.manifestLimit
      : !opts.allMetadata && !opts.allPlatforms && (opts.platforms?.length ?? 0) <= 1
        ? 1
        : undefined;
  const allMetadata = opts.allMetadata === true;
  const unpacks = (opts.unpack ?? []).map((u) => ({
    snapshotter: u.snapshotter,
    matcher: only(u.platform ? parse(u.platform) : defaultSpec()),
  }));
  const root = resolved.desc;

  return withLease(ctx, stores, async (lctx) => {
    const group = new TaskGroup(lctx.signal);
    const gctx: OpContext = { ...lctx, signal: group.signal };
    const f: Fetch = {
      ctx: gctx,
      content: stores.content,
      fetcher,
      limiter: new Limiter(opts.maxConcurrentDownloads ?? 3),
      progress,
      source: distributionSource(resolved.name),
      started: new Map(),
    };
    let manifests = 0;

    /** `metadataOnly`: a manifest of a platform not selected, under all_metadata. */
    const handle = async (
      desc: PlatformDescriptor,
      parents: string[],
      metadataOnly = false,
    ): Promise<void> => {
      const plain = plainDescriptor(desc);
      await fetchBlob(f, plain, parents);
      const self = [refKey(plain)];
      if (isIndex(desc.mediaType)) {
        const idx = await readIndex(gctx, stores.content, plain);
        await setLabels(gctx, stores.content, plain.digest, childrenLabels(idx.manifests));
        for (const child of filterManifests(idx.manifests, matcher, limit, allMetadata)) {
          const metadata =
            allMetadata && isManifest(child.mediaType) && !platformMatches(child, matcher);
          group.go(() => handle(child, self, metadata));
        }
        return;
      }
      if (!isManifest(desc.mediaType)) return;
      manifests++;
      const m = await readManifest(gctx, stores.content, plain);
      await setLabels(gctx, stores.content, plain.digest, childrenLabels([m.config, ...m.layers]));
      const config = plainDescriptor(m.config);
      await fetchBlob(f, config, self);
      if (metadataOnly) return;
      const layers = m.layers.map(plainDescriptor);
      const cfg = await readConfig(gctx, stores.content, config);
      const target = unpacks.find((u) => u.matcher.match(configPlatform(cfg)));
      if (!target) {
        if (unpacks.length > 0) {
          gctx.log.warn(
            { manifest: plain.digest, platform: format(configPlatform(cfg)) },
            'pull: no unpack configuration matches this platform: fetched, not unpacked',
          );
        }
        for (const l of layers) group.go(() => fetchBlob(f, l, self));
        return;
      }
      group.go(() =>
        unpackLayers(gctx, stores, {
          snapshotter: target.snapshotter,
          config,
          layers,
          diffIds: cfg.rootfs.diff_ids,
          fetchFrom: (first) => {
            const fetching = layers.slice(first).map((l) => group.go(() => fetchBlob(f, l, self)));
            return (i) => fetching[i - first]!;
          },
          ...(opts.onProgress && { onProgress: opts.onProgress }),
        }).then(async (top) => {
          // The layers the unpack found unpacked are fetched too (containerd
          // 1.7 leaves them): one another namespace unpacked is shared into
          // this one without its blob, and a pull leaves its image complete.
          // A blob already in the store costs a writer's open (already_exists).
          await Promise.all(layers.map((l) => fetchBlob(f, l, self)));
          return top;
        }),
      );
    };

    group.go(() => handle(root, [resolved.name]));
    await group.wait();
    if (manifests === 0) {
      throw notFound(
        `${resolved.name}: no manifest for ${opts.allPlatforms ? 'any platform' : (opts.platforms?.join(', ') ?? 'the host platform')}`,
      );
    }
    const image = await putImage(lctx, stores, {
      name: opts.name ?? resolved.name,
      labels: opts.labels ?? {},
      target: root,
    });
    progress.event('saved', image.name, 0, 0, root);
    return image;
  });
}
