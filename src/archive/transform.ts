import { pipeline, Readable, type Transform } from 'node:stream';
import { invalidArgument } from '../core/errdefs/index.js';

/**
 * Streams `source` through a Node transform (a zlib codec). Errors of the
 * source pass through as they are; errors of the codec become
 * `invalid_argument` naming `codec` (`gzip: incorrect header check`); an
 * abort of `signal` ends it with an AbortError. Stopping the iteration early
 * destroys the codec and returns the source.
 */
export async function* through(
  source: AsyncIterable<Uint8Array>,
  transform: Transform,
  codec: string,
  signal?: AbortSignal,
): AsyncGenerator<Buffer, void, undefined> {
  signal?.throwIfAborted();
  const marked = markErrors(source);
  pipeline(Readable.from(marked.chunks, { objectMode: false }), transform, () => {});
  const onAbort = () => transform.destroy(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const chunk of transform) yield chunk as Buffer;
  } catch (err) {
    if (marked.failed(err) || signal?.aborted) throw err;
    throw invalidArgument(`${codec}: ${(err as Error).message}`, { cause: err });
  } finally {
    signal?.removeEventListener('abort', onAbort);
    transform.destroy();
  }
}

/**
 * Wraps a source so that its own errors can be told from others. Only what
 * the source's `next()` throws counts: `Readable.from` destroys its iterator
 * with `throw(err)` when a later stage fails (EPIPE, a codec error), and that
 * error must not pass for the source's.
 */
export function markErrors(source: AsyncIterable<Uint8Array>): {
  chunks: AsyncGenerator<Uint8Array, void, undefined>;
  failed: (err: unknown) => boolean;
} {
  const errors = new Set<unknown>();
  async function* chunks() {
    const it = source[Symbol.asyncIterator]();
    let done = false;
    try {
      for (;;) {
        let r: IteratorResult<Uint8Array>;
        try {
          r = await it.next();
        } catch (err) {
          done = true;
          errors.add(err);
          throw err;
        }
        if (r.done) {
          done = true;
          return;
        }
        yield r.value;
      }
    } finally {
      if (!done) await it.return?.();
    }
  }
  return { chunks: chunks(), failed: (err) => errors.has(err) };
}
