/**
 * @module
 * Unpacking an image's layers into snapshots, as containerd 1.7's
 * `pkg/unpack` does: for each layer in order, the snapshot named by its chain
 * ID is made if missing (Prepare under `extract-<unique> <chainID>` with the
 * `containerd.io/snapshot.ref` label, Apply, check the diffID, Commit under
 * the chain ID) and the layer blob gets `containerd.io/uncompressed`; at the
 * end the config blob gets `containerd.io/gc.ref.snapshot.<snapshotter>` =
 * the top chain ID, so the collector keeps the snapshots while the image is.
 *
 * A failed step removes the active snapshot it prepared: nothing is left
 * behind. Unpacks of one layer in this process take turns, so a layer two
 * pulls share is applied once; a commit answered `already_exists` (another
 * process's unpack made the same snapshot meanwhile) is fine too.
 */
import type { Descriptor } from '../core/content/index.js';
import { UNCOMPRESSED_LABEL } from '../core/diff/index.js';
import {
  failedPrecondition,
  invalidArgument,
  isAlreadyExists,
  isNotFound,
} from '../core/errdefs/index.js';
import { GC_REF_SNAPSHOT_PREFIX } from '../core/gc/index.js';
import type { Image } from '../core/images/index.js';
import type { Labels } from '../core/labels/index.js';
import type { OpContext } from '../core/namespaces/index.js';
import {
  defaultSpec,
  format,
  normalize,
  only,
  type Platform,
  parse,
} from '../core/platforms/index.js';
import type { Snapshotter } from '../core/snapshots/index.js';
import type { ImageStores, ProgressFn } from '../core/transfer/index.js';
import { setLabels } from './blobs.js';
import { chainIds } from './chain.js';
import { KeyedMutex } from './concurrency.js';
import { detached, uniquePart, withLease } from './lease.js';
import { type ImageConfigJson, manifestFor, readConfig } from './manifest.js';

/** The label an unpacked layer's snapshot carries: the chain ID it is committed under. */
export const SNAPSHOT_REF_LABEL = 'containerd.io/snapshot.ref';
/** Annotations of a layer descriptor with this prefix are copied onto its snapshot. */
const INHERITED_PREFIX = 'containerd.io/snapshot/';

export interface UnpackOptions {
  snapshotter: string;
  /** The platform to unpack; default the host's. */
  platform?: string;
  onProgress?: ProgressFn;
}

async function snapshotExists(ctx: OpContext, sn: Snapshotter, key: string): Promise<boolean> {
  try {
    await sn.stat(ctx, key);
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

/** A config's own platform, normalized. */
export function configPlatform(config: ImageConfigJson): Platform {
  const p: Platform = { os: config.os, architecture: config.architecture };
  if (config.variant) p.variant = config.variant;
  return normalize(p);
}

export interface LayerUnpackJob {
  snapshotter: string;
  config: Descriptor;
  layers: readonly Descriptor[];
  diffIds: readonly string[];
  /**
   * Called once with the index of the first layer that has to be applied
   * (layers below it are already unpacked and need not be fetched); returns
   * a function giving, for each layer from there on, a promise that it is in
   * the content store. Absent: the layers are all there.
   */
  fetchFrom?: (first: number) => (i: number) => Promise<void>;
  onProgress?: ProgressFn;
}

/**
 * The unpacks of one layer in this process take turns (containerd's
 * unpacker with a duplication suppressor, as its CRI plugin sets): keyed by
 * snapshotter and chain ID, not namespace, since a layer unpacked in one
 * namespace is shared into the others (`MetadataSnapshotter`). Whoever
 * comes second finds the snapshot committed and skips the Apply.
 */
const unpacking = new KeyedMutex();

/** The key of one layer's unpack in {@link unpacking}. */
function unpackKey(snapshotter: string, chainID: string): string {
  return `${snapshotter}\n${chainID}`;
}

/**
 * Unpacks `layers` (with their `diffIds`) into snapshotter `job.snapshotter`.
 * Returns the top chain ID. The context must carry a lease (the extraction
 * snapshots and the blobs belong to it meanwhile).
 *
 * Each layer is made under its lock in {@link unpacking}, one lock held at
 * a time, in chain order, released whatever happens: nothing waits for a
 * lock while holding one, so unpacks cannot deadlock. While another unpack
 * holds a layer's lock, this one's layers from there on download meanwhile
 * (a pull fetches them all anyway).
 */
export async function unpackLayers(
  ctx: OpContext,
  stores: ImageStores,
  job: LayerUnpackJob,
): Promise<string> {
  const { layers, diffIds } = job;
  if (layers.length !== diffIds.length) {
    throw failedPrecondition(
      `image config ${job.config.digest}: ${diffIds.length} diff_ids for ${layers.length} layers`,
    );
  }
  const sn = stores.snapshotter(job.snapshotter);
  const chain = chainIds(diffIds);
  let ready: ((i: number) => Promise<void>) | undefined;
  const fetchFrom = (i: number) => {
    if (ready !== undefined) return ready;
    ready = job.fetchFrom ? job.fetchFrom(i) : () => Promise.resolve();
    // The applier readies itself (WalkingApplier: boots a worker) while the layer downloads.
    stores.applier.warm?.(layers[i]!);
    return ready;
  };
  for (let i = 0; i < layers.length; i++) {
    ctx.signal.throwIfAborted();
    const desc = layers[i]!;
    const key = unpackKey(job.snapshotter, chain[i]!);
    if (unpacking.held(key)) fetchFrom(i);
    const unlock = await unpacking.lock(key, ctx.signal);
    let applied: Descriptor | undefined;
    try {
      applied = await unpackLayer(ctx, stores, sn, job, chain, i, fetchFrom);
    } finally {
      unlock();
    }
    if (applied === undefined) continue;
    await setLabels(ctx, stores.content, desc.digest, { [UNCOMPRESSED_LABEL]: applied.digest });
    job.onProgress?.({
      event: 'unpacked',
      name: desc.digest,
      progress: desc.size,
      total: desc.size,
      desc,
    });
  }
  const top = chain.at(-1) ?? '';
  if (top !== '') {
    await setLabels(ctx, stores.content, job.config.digest, {
      [`${GC_REF_SNAPSHOT_PREFIX}${job.snapshotter}`]: top,
    });
  }
  return top;
}

/**
 * Makes layer `i`'s snapshot unless it exists: Prepare, wait for the blob,
 * Apply, check the diffID, Commit. Returns what Apply computed, or
 * undefined when the snapshot was there (or another unpack committed it
 * meanwhile). The caller holds the layer's lock.
 */
async function unpackLayer(
  ctx: OpContext,
  stores: ImageStores,
  sn: Snapshotter,
  job: LayerUnpackJob,
  chain: readonly string[],
  i: number,
  fetchFrom: (i: number) => (i: number) => Promise<void>,
): Promise<Descriptor | undefined> {
  const desc = job.layers[i]!;
  const chainID = chain[i]!;
  const parent = i > 0 ? chain[i - 1]! : '';
  if (await snapshotExists(ctx, sn, chainID)) return undefined;
  const ready = fetchFrom(i);

  const labels: Labels = {};
  for (const [k, v] of Object.entries(desc.annotations ?? {})) {
    if (k.startsWith(INHERITED_PREFIX)) labels[k] = v;
  }
  labels[SNAPSHOT_REF_LABEL] = chainID;

  let key = '';
  let mounts: Awaited<ReturnType<Snapshotter['prepare']>> | undefined;
  for (let attempt = 1; attempt <= 3 && !mounts; attempt++) {
    key = `extract-${uniquePart()} ${chainID}`;
    try {
      mounts = await sn.prepare(ctx, key, parent, { labels });
    } catch (err) {
      if (!isAlreadyExists(err)) {
        throw new Error(`prepare extraction snapshot "${key}": ${(err as Error).message}`, {
          cause: err,
        });
      }
      // Committed meanwhile (in another namespace, or by a client's unpack this lock does not see).
      if (await snapshotExists(ctx, sn, chainID)) return undefined;
    }
  }
  if (!mounts) throw failedPrecondition(`unable to prepare extraction snapshot for ${chainID}`);

  job.onProgress?.({
    event: 'unpacking',
    name: desc.digest,
    progress: 0,
    total: desc.size,
    desc,
  });
  try {
    const t0 = performance.now();
    await ready(i);
    const t1 = performance.now();
    const applied = await stores.applier.apply(ctx, desc, mounts);
    const t2 = performance.now();
    if (applied.digest !== job.diffIds[i]) {
      throw failedPrecondition(
        `layer ${desc.digest}: wrong diff id calculated on extraction: ${applied.digest}, the config says ${job.diffIds[i]}`,
      );
    }
    await sn.commit(ctx, chainID, key, { labels });
    ctx.log.debug(
      {
        layer: desc.digest,
        waitMs: Math.round(t1 - t0),
        applyMs: Math.round(t2 - t1),
        commitMs: Math.round(performance.now() - t2),
      },
      'unpack: layer applied',
    );
    return applied;
  } catch (err) {
    await sn.remove(detached(ctx), key).catch((rmErr: unknown) => {
      ctx.log.warn({ err: rmErr, key }, 'removing the extraction snapshot failed');
    });
    if (isAlreadyExists(err)) {
      ctx.log.debug(
        { layer: desc.digest },
        'unpack: layer applied, committed by another meanwhile',
      );
      return undefined;
    }
    throw err;
  }
}

async function imageLayers(
  ctx: OpContext,
  stores: ImageStores,
  image: Pick<Image, 'name' | 'target'>,
  platform: string | undefined,
) {
  const plat = platform ? parse(platform) : defaultSpec();
  const matcher = only(plat);
  const what = platform ? format(plat) : `the host platform (${format(plat)})`;
  const sel = await manifestFor(ctx, stores.content, image.target, matcher, what);
  const config = await readConfig(ctx, stores.content, sel.manifest.config);
  return { sel, config, diffIds: config.rootfs.diff_ids };
}

/**
 * Unpacks `image` for a platform (default the host's) into a snapshotter,
 * as the Go client's `image.Unpack`: the layers must be in the content store.
 */
export async function unpack(
  ctx: OpContext,
  stores: ImageStores,
  image: Pick<Image, 'name' | 'target'>,
  opts: UnpackOptions,
): Promise<void> {
  if (!opts.snapshotter) throw invalidArgument('unpack: a snapshotter is required');
  await withLease(ctx, stores, async (lctx) => {
    const { sel, diffIds } = await imageLayers(lctx, stores, image, opts.platform);
    await unpackLayers(lctx, stores, {
      snapshotter: opts.snapshotter,
      config: sel.manifest.config,
      layers: sel.manifest.layers,
      diffIds,
      ...(opts.onProgress && { onProgress: opts.onProgress }),
    });
  });
}

/** Whether the snapshot of `image`'s top layer exists in the snapshotter (the Go client's IsUnpacked). */
export async function isUnpacked(
  ctx: OpContext,
  stores: ImageStores,
  image: Pick<Image, 'name' | 'target'>,
  opts: { snapshotter: string; platform?: string },
): Promise<boolean> {
  const { diffIds } = await imageLayers(ctx, stores, image, opts.platform);
  const top = chainIds(diffIds).at(-1);
  if (top === undefined) return true;
  return snapshotExists(ctx, stores.snapshotter(opts.snapshotter), top);
}
