/**
 * @module
 * Blob plumbing shared by pull, import and unpack: reading small JSON blobs
 * (manifests, indexes, configs) with a size bound, writing one blob through an
 * ingest with the expected digest and size (resuming a partial ingest,
 * `already_exists` meaning "have it"), and label updates.
 */
import { createHash } from 'node:crypto';
import type { ContentStore, Descriptor, Provider, Writer } from '../core/content/index.js';
import {
  failedPrecondition,
  isAlreadyExists,
  isFailedPrecondition,
  isNotFound,
  isUnavailable,
} from '../core/errdefs/index.js';
import type { Labels } from '../core/labels/index.js';
import type { OpContext } from '../core/namespaces/index.js';

/** The largest manifest, index or config read into memory (containerd bounds manifests likewise). */
export const MAX_JSON_BLOB = 16 << 20;

/**
 * The bytes handed to one `Writer.write`: containerd's `content.Copy` buffers
 * 1 MiB per write likewise. Over the Content proxy each write is a WRITE
 * message answered before the next, so the socket's 16–64 KiB reads written
 * one by one cost a round trip each.
 */
export const WRITE_CHUNK = 1 << 20;

/**
 * Regroups `source`'s buffers into buffers of at least `size` bytes (the
 * last may be shorter); a buffer already that large passes through uncopied.
 * At most about `size` bytes plus one buffer are held. When the source
 * fails, the bytes held are yielded before its error.
 */
export async function* coalesce(
  source: AsyncIterable<Buffer>,
  size = WRITE_CHUNK,
): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let held = 0;
  const take = () => {
    const out = parts.length === 1 ? parts[0]! : Buffer.concat(parts, held);
    parts = [];
    held = 0;
    return out;
  };
  try {
    for await (const chunk of source) {
      if (held === 0 && chunk.length >= size) {
        yield chunk;
        continue;
      }
      parts.push(chunk);
      held += chunk.length;
      if (held >= size) yield take();
    }
  } catch (err) {
    // What arrived before the failure is still written: a resumed ingest
    // then starts where the source stopped, not up to `size` bytes earlier.
    if (held > 0) yield take();
    throw err;
  }
  if (held > 0) yield take();
}

/** Reads a small blob whole: `failed_precondition` when it exceeds `max` or differs from `desc.size`. */
export async function readBlob(
  ctx: OpContext,
  provider: Provider,
  desc: Descriptor,
  max = MAX_JSON_BLOB,
): Promise<Buffer> {
  if (desc.size > max) {
    throw failedPrecondition(
      `blob ${desc.digest} (${desc.mediaType}) is ${desc.size} bytes: more than the ${max} bytes allowed for metadata`,
    );
  }
  const out = Buffer.allocUnsafe(desc.size);
  let at = 0;
  for await (const chunk of provider.read(ctx, desc.digest)) {
    if (at + chunk.length > desc.size) {
      throw failedPrecondition(
        `blob ${desc.digest}: longer than its descriptor's ${desc.size} bytes`,
      );
    }
    chunk.copy(out, at);
    at += chunk.length;
  }
  if (at !== desc.size) {
    throw failedPrecondition(`blob ${desc.digest}: ${at} bytes, its descriptor says ${desc.size}`);
  }
  return out;
}

/** Reads and parses a JSON blob; a parse error is `failed_precondition` naming the blob. */
export async function readJson<T>(
  ctx: OpContext,
  provider: Provider,
  desc: Descriptor,
): Promise<T> {
  const data = await readBlob(ctx, provider, desc);
  try {
    return JSON.parse(data.toString('utf8')) as T;
  } catch (err) {
    throw failedPrecondition(
      `blob ${desc.digest} (${desc.mediaType}): not valid JSON: ${(err as Error).message}`,
      { cause: err },
    );
  }
}

/** Whether the content store has `digest` committed (in the context's namespace). */
export async function hasBlob(ctx: OpContext, content: Provider, digest: string): Promise<boolean> {
  try {
    await content.info(ctx, digest);
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

/** Sets some labels of a blob, leaving the others (`labels.<key>` field paths). */
export async function setLabels(
  ctx: OpContext,
  content: ContentStore,
  digest: string,
  labels: Labels,
): Promise<void> {
  const keys = Object.keys(labels);
  if (keys.length === 0) return;
  await content.update(
    ctx,
    { digest, labels },
    keys.map((k) => `labels.${k}`),
  );
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const t = setTimeout(done, ms);
    function done() {
      signal.removeEventListener('abort', abort);
      resolve();
    }
    function abort() {
      clearTimeout(t);
      reject(signal.reason);
    }
    signal.addEventListener('abort', abort, { once: true });
  });
}

/**
 * Opens a writer for `ref`, or returns undefined when the blob is already
 * committed. A ref held by another writer (`unavailable`, the same blob being
 * written by someone else) is retried with backoff until it is free, as
 * containerd's OpenWriter does; by then the blob is usually committed.
 * `already_exists` is trusted only once the blob is visible: a store may say
 * it while another writer's commit has not yet recorded it in this
 * namespace (berth's metadata store between its backend commit and its
 * record), and the caller is about to label or read it.
 */
export async function openWriter(
  ctx: OpContext,
  content: ContentStore,
  ref: string,
  desc: Descriptor,
): Promise<Writer | undefined> {
  let delay = 5;
  for (;;) {
    try {
      return await content.writer(ctx, { ref, total: desc.size, expected: desc.digest });
    } catch (err) {
      if (isAlreadyExists(err)) {
        if (await hasBlob(ctx, content, desc.digest)) return undefined;
      } else if (!isUnavailable(err)) {
        throw err;
      }
      await sleep(delay, ctx.signal);
      delay = Math.min(delay * 2, 1000);
    }
  }
}

/** Waits (bounded by the signal) until `digest` is visible in the context's namespace. */
async function untilVisible(ctx: OpContext, content: Provider, digest: string): Promise<void> {
  let delay = 5;
  while (!(await hasBlob(ctx, content, digest))) {
    await sleep(delay, ctx.signal);
    delay = Math.min(delay * 2, 1000);
  }
}

export interface WriteBlobOptions {
  /** The blob's bytes from `offset` on. */
  source: (offset: number) => AsyncIterable<Buffer>;
  /** Labels of the committed blob. */
  labels?: Labels;
  /** Called with the bytes written so far (the resumed offset included). */
  onBytes?: (written: number) => void;
}

/**
 * Writes `desc`'s blob through the ingest `ref` and commits it with its
 * expected digest and size (and `labels`). Returns false when the blob was
 * already there (at open or at commit): its labels are then the caller's
 * business. A partial ingest of the same ref is resumed from
 * its offset. When the data does not match the descriptor (digest or size)
 * the ingest is aborted, since its bytes can never commit; other failures
 * leave it to be resumed.
 */
export async function writeBlob(
  ctx: OpContext,
  content: ContentStore,
  ref: string,
  desc: Descriptor,
  opts: WriteBlobOptions,
): Promise<boolean> {
  const w = await openWriter(ctx, content, ref, desc);
  if (!w) return false;
  let committed = false;
  try {
    let offset = (await w.status()).offset;
    if (offset > desc.size) {
      await w.truncate(0);
      offset = 0;
    }
    let written = offset;
    opts.onBytes?.(written);
    if (offset < desc.size || desc.size === 0) {
      for await (const chunk of coalesce(opts.source(offset))) {
        ctx.signal.throwIfAborted();
        written += chunk.length;
        if (written > desc.size) {
          throw failedPrecondition(
            `blob ${desc.digest}: more than the ${desc.size} bytes its descriptor says`,
          );
        }
        await w.write(chunk);
        opts.onBytes?.(written);
      }
    }
    try {
      await w.commit(desc.size, desc.digest, opts.labels ? { labels: opts.labels } : {});
      committed = true;
    } catch (err) {
      if (isAlreadyExists(err)) {
        committed = true;
        await untilVisible(ctx, content, desc.digest);
        return false;
      }
      throw err;
    }
    return true;
  } catch (err) {
    if (!committed) {
      await w.close().catch(() => {});
      if (isFailedPrecondition(err)) {
        await content.abort({ ...ctx, signal: new AbortController().signal }, ref).catch(() => {});
      }
    }
    throw err;
  }
}

/**
 * Writes a stream whose digest may be unknown (an archive entry) through
 * ingest `ref`, hashing on the way; a stale partial ingest of the ref is
 * restarted (a stream cannot skip ahead). With `expected`, the commit checks
 * it. Returns the blob's descriptor (media type left to the caller); a blob
 * that was already there is fine.
 */
export async function writeStream(
  ctx: OpContext,
  content: ContentStore,
  ref: string,
  source: AsyncIterable<Buffer>,
  size: number,
  expected?: string,
): Promise<{ digest: string; size: number }> {
  const hash = createHash('sha256');
  let w: Writer | undefined;
  let delay = 20;
  while (!w) {
    try {
      w = await content.writer(ctx, { ref, total: size, ...(expected && { expected }) });
    } catch (err) {
      if (expected && isAlreadyExists(err)) {
        // Trusted once visible here (see openWriter); until then, open again.
        if (await hasBlob(ctx, content, expected)) {
          for await (const _ of source) {
            // drain the entry: the archive goes on after it
          }
          return { digest: expected, size };
        }
      } else if (!isUnavailable(err)) {
        throw err;
      }
      await sleep(delay, ctx.signal);
      delay = Math.min(delay * 2, 1000);
    }
  }
  let done = false;
  try {
    if ((await w.status()).offset > 0) await w.truncate(0);
    let n = 0;
    for await (const chunk of coalesce(source)) {
      hash.update(chunk);
      n += chunk.length;
      await w.write(chunk);
    }
    const digest = `sha256:${hash.digest('hex')}`;
    if (expected && digest !== expected) {
      throw failedPrecondition(`${ref}: content has digest ${digest}, its name says ${expected}`);
    }
    try {
      await w.commit(n, digest);
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
      await untilVisible(ctx, content, digest);
    }
    done = true;
    return { digest, size: n };
  } catch (err) {
    if (!done) {
      await w.close().catch(() => {});
      await content.abort({ ...ctx, signal: new AbortController().signal }, ref).catch(() => {});
    }
    throw err;
  }
}
