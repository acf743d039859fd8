import { closeSync, fstatSync, openSync, read, readSync } from 'node:fs';
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
  // Opening and sizing a blob are short metadata calls: done synchronously,
  // they save two thread-pool round trips on every read (most reads are
  // manifests and configs of a few KiB).
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    if (isENOENT(err)) {
      throw notFound(`content ${digest}`, { cause: err });
    }
    throw err;
  }
  try {
    const length = fstatSync(fd).size;
    if (offset > length) {
      throw outOfRange(`read ${digest}: offset ${offset} past object length ${length} bytes`);
    }
    const end = size > 0 ? Math.min(length, offset + size) : length;
    let position = offset;
    while (position < end) {
      signal.throwIfAborted();
      const want = Math.min(READ_CHUNK, end - position);
      const chunk = Buffer.allocUnsafe(want);
      const bytesRead =
        want <= SYNC_READ_MAX
          ? readSync(fd, chunk, 0, want, position)
          : await readAsync(fd, chunk, want, position);
      if (bytesRead === 0) {
        // Blobs are immutable; a short file is damage, not the end.
        throw dataLoss(`read ${digest}: blob ends at ${position} bytes, expected ${end}`);
      }
      position += bytesRead;
      yield bytesRead === want ? chunk : chunk.subarray(0, bytesRead);
    }
  } finally {
    closeSync(fd);
  }
}

/** Reads this small are served from the page cache faster than a thread-pool hop. */
const SYNC_READ_MAX = 64 << 10;

function readAsync(fd: number, buf: Buffer, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) =>
    read(fd, buf, 0, length, position, (err, n) => (err ? reject(err) : resolve(n))),
  );
}
