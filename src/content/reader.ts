import { type FileHandle, open } from 'node:fs/promises';
import type { ReadOptions } from '../core/content/index.js';
import { dataLoss, invalidArgument, notFound, outOfRange } from '../core/errdefs/index.js';
import { isENOENT } from './fsutil.js';

/** The largest chunk a read yields, as containerd's content service sends. */
export const READ_CHUNK = 1 << 20;

/**
 * Streams `[offset, offset + size)` of the blob file at `path` in chunks of
 * at most {@link READ_CHUNK}, each a fresh buffer the consumer may keep. The
 * file is opened once: a blob deleted (unlinked) mid-read still reads to the
 * end. A size of 0 (or less, as containerd) or one past the end reads to the
 * end; an offset past the end is `out_of_range`; an offset at the end yields
 * nothing.
 */
export async function* readBlob(
  path: string,
  digest: string,
  opts: ReadOptions,
  signal: AbortSignal,
): AsyncGenerator<Buffer, void, undefined> {
  const offset = opts.offset ?? 0;
  const size = opts.size ?? 0;
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(size)) {
    throw invalidArgument(`read ${digest}: invalid offset ${offset} or size ${size}`);
  }
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    if (isENOENT(err)) {
      throw notFound(`content ${digest}`, { cause: err });
    }
    throw err;
  }
  try {
    const length = (await handle.stat()).size;
    if (offset > length) {
      throw outOfRange(`read ${digest}: offset ${offset} past object length ${length} bytes`);
    }
    const end = size > 0 ? Math.min(length, offset + size) : length;
    let position = offset;
    while (position < end) {
      signal.throwIfAborted();
      const want = Math.min(READ_CHUNK, end - position);
      const chunk = Buffer.allocUnsafe(want);
      const { bytesRead } = await handle.read(chunk, 0, want, position);
      if (bytesRead === 0) {
        // Blobs are immutable; a short file is damage, not the end.
        throw dataLoss(`read ${digest}: blob ends at ${position} bytes, expected ${end}`);
      }
      position += bytesRead;
      yield bytesRead === want ? chunk : chunk.subarray(0, bytesRead);
    }
  } finally {
    await handle.close();
  }
}
