/**
 * @module
 * The walking differ's Apply (containerd's diff/apply fsApplier):
 * blob from the content Provider → decompress by media type → DigestStream
 * (the diffID, while streaming) → the tar reader + synchronous file calls
 * (layer-writer.ts): on the main thread for a layer that ends within
 * INLINE_MAX bytes, else in an apply worker (reused across Applies, see
 * apply-workers.ts). One pass, no temporary copy; memory bounded by
 * INLINE_MAX and the worker window (see apply-channel.ts), so a
 * decompression bomb is bounded by disk.
 *
 * Targets:
 * - one `bind`/`rbind` mount: written into its source directory directly
 *   (native snapshots, and overlayfs snapshots without parents);
 * - one `overlay` mount with an empty upperdir and no option beyond
 *   upperdir, lowerdir, workdir, index=off, rw (see directUpper): written
 *   into the upperdir directly, with the merged view's result (upper.ts);
 * - anything else (another overlay, several mounts): mounted on a temp
 *   directory under `tempDir` and written through the merged view, where
 *   the kernel makes the 0/0 whiteouts and opaque xattrs in the upperdir and
 *   symlinks and directories of the parent layers are seen as they are.
 *   Always unmounted before Apply returns.
 *
 * Verification: containerd 1.6's Apply only computes the diffID and returns
 * it (the client compares it with the image config's diff_ids, "wrong diff
 * id calculated on extraction"). berth does that, and also fails with
 * `failed_precondition` when the descriptor's annotations or the blob's
 * labels carry `containerd.io/uncompressed` and it differs.
 */
import { readdirSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import {
  type Compression,
  DigestStream,
  decompressStream,
  layerCompression,
  layerStreamCompression,
  MEDIA_TYPES,
} from '../archive/index.js';
import type { Descriptor, Provider } from '../core/content/index.js';
import { type Applier, type ApplyOptions, UNCOMPRESSED_LABEL } from '../core/diff/index.js';
import {
  failedPrecondition,
  internal,
  invalidArgument,
  isNotFound,
  kindOf,
  newError,
} from '../core/errdefs/index.js';
import type { Mount } from '../core/mount/index.js';
import type { OpContext } from '../core/namespaces/index.js';
import { isErrno } from '../sys/linux.js';
import { ApplyChannel, type ApplyTarget, type TarDigest } from './apply-channel.js';
import { ApplyWorkers } from './apply-workers.js';
import { applyTar } from './layer-writer.js';
import { withTempMount } from './temp-mount.js';
import { clearVolatile, withVolatile } from './volatile.js';
import { YoungCollector } from './young-gc.js';

/**
 * Layers of at most this many uncompressed bytes are written on the main
 * thread instead of in a worker: a busybox-sized layer then costs no worker
 * start (0.1-0.2 s, 20 MiB). The main thread yields to the event loop every
 * TURN bytes, so other calls wait at most for one TURN's file calls.
 */
export const INLINE_MAX = 4 << 20;
const TURN = 64 << 10;

/** applyTar on this thread, failing as the worker does (the kind and message of its error). */
async function applyInline(chunks: Buffer[], target: ApplyTarget): Promise<void> {
  try {
    await applyTar(turns(chunks), target.root, { overlay: target.overlay, lowers: target.lowers });
  } catch (err) {
    throw newError(kindOf(err), (err as Error)?.message ?? String(err));
  }
}

/** The chunks, in slices of at most TURN bytes, with a turn of the event loop before each. */
async function* turns(chunks: Buffer[]): AsyncGenerator<Buffer, void, undefined> {
  for (const chunk of chunks) {
    for (let at = 0; at < chunk.length; at += TURN) {
      await new Promise<void>((r) => setImmediate(r));
      yield chunk.subarray(at, at + TURN);
    }
  }
}

export interface WalkingApplierOptions {
  /** Where overlay targets are mounted (a directory that exists). */
  tempDir: string;
  /** The worker threads that write layers; default: this applier's own, started on first use. */
  workers?: ApplyWorkers;
}

export class WalkingApplier implements Applier {
  readonly #provider: Provider;
  readonly #tempDir: string;
  readonly #workers: ApplyWorkers;

  constructor(provider: Provider, opts: WalkingApplierOptions) {
    this.#provider = provider;
    this.#tempDir = opts.tempDir;
    this.#workers = opts.workers ?? new ApplyWorkers();
  }

  /** Starts an apply worker ahead of a layer that will need one (see ApplyWorkers.warm). */
  warm(desc: Descriptor): void {
    // The compressed size bounds the tar's from below: beyond INLINE_MAX, a worker writes it.
    if (desc.size > INLINE_MAX) this.#workers.warm();
  }

  async apply(
    ctx: OpContext,
    desc: Descriptor,
    mounts: Mount[],
    _opts: ApplyOptions = {},
  ): Promise<Descriptor> {
    if (mounts.length === 0) throw invalidArgument('apply: no mounts to apply the layer to');
    // Refuses +encrypted and unknown media types before anything is read or mounted.
    const plan = layerCompression(desc.mediaType);
    const expected =
      plan.declared === 'none' && !plan.sniff ? desc.digest : await this.#expectedDiffId(ctx, desc);
    const only = mounts[0]!;
    if (mounts.length === 1 && (only.type === 'bind' || only.type === 'rbind')) {
      if (only.options.includes('ro'))
        throw invalidArgument('apply: the target mount is read-only');
      return this.#applyInto(ctx, desc, { root: only.source, overlay: false }, expected);
    }
    const upper = mounts.length === 1 ? directUpper(only) : undefined;
    if (upper !== undefined) return this.#applyInto(ctx, desc, upper, expected);
    const overlay = mounts.some((m) => m.type === 'overlay');
    const through = (ms: readonly Mount[], started: () => void) =>
      withTempMount(this.#tempDir, ms, (root) => {
        started();
        return this.#applyInto(ctx, desc, { root, overlay }, expected);
      });
    const volatile = withVolatile(mounts);
    if (volatile === undefined) return through(mounts, () => {});
    let mounted = false;
    try {
      return await through(volatile, () => {
        mounted = true;
      });
    } catch (err) {
      // A kernel without `volatile` refuses the mount itself (see volatile.ts).
      if (!mounted && isErrno(err, 'EINVAL')) return through(mounts, () => {});
      throw err;
    } finally {
      if (mounted) clearVolatile(mounts);
    }
  }

  async #applyInto(
    ctx: OpContext,
    desc: Descriptor,
    target: ApplyTarget,
    expected: string | undefined,
  ): Promise<Descriptor> {
    // The blob's own buffers (an uncompressed layer's chunks are passed on
    // as they are): the provider may hold them, so they are never moved to
    // the worker; a codec's output is this Apply's alone.
    const sourceBuffers = new WeakSet<ArrayBufferLike>();
    const blob = noted(this.#provider.read(ctx, desc.digest), sourceBuffers);
    const { compression, source } = await layerStreamCompression(desc.mediaType, blob);
    const got =
      compression === 'gzip' && desc.size > INLINE_MAX
        ? await this.#gunzipInWorker(target, source)
        : await this.#decompressHere(ctx, desc, target, compression, source, sourceBuffers);
    if (expected !== undefined && expected !== got.digest) {
      throw failedPrecondition(
        `wrong diff id calculated on extraction of ${desc.digest}: expected ${expected}, got ${got.digest}`,
      );
    }
    return { mediaType: MEDIA_TYPES.ociLayer, digest: got.digest, size: got.size };
  }

  /**
   * A gzip layer too big to be written inline (its compressed size beyond
   * INLINE_MAX): its compressed bytes go to an apply worker, which inflates,
   * hashes and writes it (see apply-worker.ts); this thread only reads the
   * blob. The layer's three stages then run on three threads (this one,
   * libuv's pool, the worker) with a quarter of the bytes crossing threads.
   */
  async #gunzipInWorker(
    target: ApplyTarget,
    source: AsyncIterable<Uint8Array>,
  ): Promise<TarDigest> {
    let channel: ApplyChannel | undefined;
    const collector = new YoungCollector();
    try {
      for await (const chunk of source) {
        channel ??= new ApplyChannel(this.#workers, target, { gunzip: true });
        await channel.sendCompressed(chunk);
        collector.add(chunk.length);
        if (channel.settled) break;
      }
      channel ??= new ApplyChannel(this.#workers, target, { gunzip: true });
    } catch (err) {
      await channel?.abort();
      throw err;
    }
    const { tar } = await channel.end();
    if (tar === undefined) throw internal('apply worker: no digest of the inflated layer');
    return tar;
  }

  /** Decompresses here; the tar is written inline when it ends within INLINE_MAX, else by a worker. */
  async #decompressHere(
    ctx: OpContext,
    desc: Descriptor,
    target: ApplyTarget,
    compression: Compression,
    source: AsyncIterable<Uint8Array>,
    sourceBuffers: WeakSet<ArrayBufferLike>,
  ): Promise<TarDigest> {
    const tar = new DigestStream(decompressStream(compression, source, { signal: ctx.signal }));
    const owned = (chunk: Buffer) => !sourceBuffers.has(chunk.buffer);
    const chunks = tar[Symbol.asyncIterator]();
    try {
      // Read up to INLINE_MAX of the layer: a layer that ends within it is
      // written here, without a worker; a longer one goes to a worker,
      // these chunks first.
      const head: Buffer[] = [];
      let headBytes = 0;
      let ended = false;
      while (headBytes <= INLINE_MAX) {
        const r = await chunks.next();
        if (r.done) {
          ended = true;
          break;
        }
        head.push(r.value);
        headBytes += r.value.length;
      }
      if (ended) await applyInline(head, target);
      else await this.#inWorker(target, head, chunks, owned);
    } finally {
      await chunks.return(undefined);
    }
    if (!tar.done) {
      // The worker finished before the stream did: it cannot have succeeded, but say so.
      throw invalidArgument(`layer ${desc.digest}: the tar ended before the layer stream`);
    }
    return { digest: tar.digest, size: tar.size };
  }

  /** Sends `head`, then the rest of `chunks`, to an apply worker writing into `target`. */
  async #inWorker(
    target: ApplyTarget,
    head: Buffer[],
    chunks: AsyncIterator<Buffer, void, undefined>,
    owned: (chunk: Buffer) => boolean,
  ): Promise<void> {
    const channel = new ApplyChannel(this.#workers, target);
    const collector = new YoungCollector();
    try {
      for (const chunk of head) {
        if (channel.settled) break;
        await channel.send(chunk, owned(chunk));
      }
      while (!channel.settled) {
        const r = await chunks.next();
        if (r.done) break;
        const length = r.value.length; // a chunk moved to the worker is detached here
        await channel.send(r.value, owned(r.value));
        collector.add(length);
      }
    } catch (err) {
      await channel.abort();
      throw err;
    }
    await channel.end();
  }

  async #expectedDiffId(ctx: OpContext, desc: Descriptor): Promise<string | undefined> {
    const annotated = desc.annotations?.[UNCOMPRESSED_LABEL];
    if (annotated) return annotated;
    try {
      const info = await this.#provider.info(ctx, desc.digest);
      return info.labels[UNCOMPRESSED_LABEL] || undefined;
    } catch (err) {
      if (isNotFound(err)) return undefined; // read() reports it
      throw err;
    }
  }
}

/** `source`, noting the ArrayBuffer of each chunk it yields in `seen`. */
async function* noted(
  source: AsyncIterable<Uint8Array>,
  seen: WeakSet<ArrayBufferLike>,
): AsyncGenerator<Uint8Array, void, undefined> {
  for await (const chunk of source) {
    seen.add(chunk.buffer);
    yield chunk;
  }
}

/** Overlay options whose meaning the direct write into the upperdir reproduces. */
const DIRECT_OPTIONS = /^(?:upperdir|lowerdir|workdir)=|^(?:rw|index=off|volatile)$/;

/**
 * The upperdir target of an overlay mount that can be written directly
 * (see union.ts and upper.ts): an upperdir and lowerdirs (absolute, no
 * escaped `:`), no option that changes overlayfs' on-disk format (userxattr,
 * redirect_dir, metacopy, …), and an empty upperdir, so that everything in
 * it is this layer's doing. Anything else is written through the merged view.
 */
function directUpper(m: Mount): ApplyTarget | undefined {
  if (m.type !== 'overlay' || !m.options.every((o) => DIRECT_OPTIONS.test(o))) return undefined;
  const upper = m.options.find((o) => o.startsWith('upperdir='))?.slice('upperdir='.length);
  const lower = m.options.find((o) => o.startsWith('lowerdir='))?.slice('lowerdir='.length);
  if (upper === undefined || lower === undefined || lower.includes('\\')) return undefined;
  const lowers = lower.split(':');
  if (![upper, ...lowers].every((p) => isAbsolute(p))) return undefined;
  try {
    if (readdirSync(upper).length > 0) return undefined;
  } catch {
    return undefined; // the write through the merged view reports it
  }
  return { root: upper, overlay: false, lowers };
}
