import { createHash, type Hash } from 'node:crypto';
import { chmod, type FileHandle, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type CommitOptions,
  type Status,
  validateDigest,
  type Writer,
} from '../core/content/index.js';
import {
  alreadyExists,
  dataLoss,
  failedPrecondition,
  invalidArgument,
  notFound,
} from '../core/errdefs/index.js';
import type { Logger } from '../core/log/index.js';
import { nowNanos } from '../core/time/index.js';
import { removeTree } from '../sys/remove-tree.js';
import { isENOENT, pathExists, syncDir } from './fsutil.js';
import type { Layout } from './layout.js';
import { formatTimestamp } from './timestamp.js';

/** Read size when re-hashing an ingest on resume. */
const REHASH_CHUNK = 1 << 20;

/** Bytes written between background flushes (see {@link LocalWriter}). */
export const FLUSH_EVERY = 32 << 20;

export interface WriterInit {
  readonly layout: Layout;
  readonly ref: string;
  /** The ingest directory. */
  readonly dir: string;
  /** The ingest's data file, open for writing, positioned by `offset`. */
  readonly handle: FileHandle;
  /** The hash of `data` up to `offset`. */
  readonly hash: Hash;
  readonly offset: number;
  readonly total: number;
  readonly expected: string;
  readonly startedAt: bigint;
  readonly updatedAt: bigint;
  readonly log: Logger;
  /** Releases the ref lock; called exactly once, by commit or close. */
  readonly release: () => void;
}

/**
 * A write into one ingest. It holds the ref lock and the data file open from
 * creation until `commit` or `close`.
 *
 * - `write` is one positional write at the current offset; the hash is
 *   updated on this thread while the write runs in the thread pool, so the two
 *   overlap. Nothing else touches the disk per chunk (no metadata files, no
 *   fsync): the data file's size is the offset and its mtime the update time.
 * - Operations run one at a time in call order, so a `commit` or `close` that
 *   is not awaited after a `write` still sees it.
 * - A failed write leaves the writer broken (the file may hold part of the
 *   chunk, the hash holds all of it): `write` and `commit` then fail until
 *   `truncate(0)`; a new writer for the ref resumes from what is on disk.
 */
export class LocalWriter implements Writer {
  readonly ref: string;
  private readonly init: WriterInit;
  private hash: Hash;
  private offset: number;
  private updatedAt: bigint;
  private state: 'open' | 'closed' = 'open';
  private broken: unknown;
  private committed: string | undefined;
  private tail: Promise<unknown> = Promise.resolve();
  private flushedTo = 0;
  private flushing: Promise<void> | undefined;
  private flushError: unknown;

  constructor(init: WriterInit) {
    this.init = init;
    this.ref = init.ref;
    this.hash = init.hash;
    this.offset = init.offset;
    this.updatedAt = init.updatedAt;
  }

  async status(): Promise<Status> {
    return {
      ref: this.ref,
      offset: this.offset,
      total: this.init.total,
      expected: this.init.expected,
      startedAt: this.init.startedAt,
      updatedAt: this.updatedAt,
    };
  }

  digest(): string {
    return this.committed ?? `sha256:${this.hash.copy().digest('hex')}`;
  }

  write(data: Buffer): Promise<void> {
    return this.serial(async () => {
      this.assertWritable();
      if (data.length === 0) {
        return;
      }
      const position = this.offset;
      const written = writeAll(this.init.handle, data, position);
      this.hash.update(data); // overlaps the write
      try {
        await written;
      } catch (err) {
        this.broken = err;
        throw err;
      }
      this.offset = position + data.length;
      this.updatedAt = nowNanos();
      this.flushInBackground();
    });
  }

  truncate(size: number): Promise<void> {
    return this.serial(async () => {
      if (size !== 0) {
        throw invalidArgument(`${this.subject()}: truncate to ${size}: only 0 is supported`);
      }
      this.assertOpen();
      await this.flushing;
      await this.init.handle.truncate(0);
      this.hash = createHash('sha256');
      this.offset = 0;
      this.flushedTo = 0;
      this.flushError = undefined; // it concerned bytes that are gone
      this.broken = undefined;
      this.updatedAt = nowNanos();
    });
  }

  commit(size: number, expected?: string, _opts?: CommitOptions): Promise<string> {
    // Labels are ignored: the local store keeps none (the metadata store does).
    return this.serial(async () => {
      this.assertOpen();
      this.state = 'closed';
      try {
        return await this.commitOpen(size, expected ?? '');
      } finally {
        await this.flushing;
        await this.init.handle.close().catch(() => {});
        this.init.release();
      }
    });
  }

  close(): Promise<void> {
    return this.serial(async () => {
      if (this.state !== 'open') {
        return;
      }
      this.state = 'closed';
      try {
        await this.flushing;
        await this.init.handle.close();
        await this.recordUpdatedAt();
      } finally {
        this.init.release();
      }
    });
  }

  /**
   * Writes the update time into `updatedat` when it moved, as containerd's
   * writer does on Close: the data file's mtime is the kernel's coarse clock,
   * up to a tick behind the time of the last write, and a writer that
   * resumes the ingest reports what is recorded here. Not synced: after a
   * crash the mtime stands in. An ingest aborted meanwhile has no file to
   * write.
   */
  private async recordUpdatedAt(): Promise<void> {
    if (this.updatedAt === this.init.updatedAt) return;
    try {
      await writeFile(join(this.init.dir, 'updatedat'), formatTimestamp(this.updatedAt));
    } catch (err) {
      if (!isENOENT(err)) throw err;
    }
  }

  /**
   * Verify, then make the blob durable and visible. The blob appears by one
   * rename of the fsynced, read-only data file, so `blobs/` only ever holds
   * complete, verified files; the directory is fsynced after, so the rename
   * survives power loss. On a mismatch the ingest stays, as in containerd.
   */
  private async commitOpen(size: number, expected: string): Promise<string> {
    const { handle, layout, dir } = this.init;
    if (expected !== '') {
      validateDigest(expected);
    }
    if (this.broken !== undefined) {
      throw this.brokenError();
    }
    await this.flushing;
    if (this.flushError !== undefined) {
      throw dataLoss(`${this.subject()}: flushing the data failed`, { cause: this.flushError });
    }
    const onDisk = (await handle.stat()).size;
    if (onDisk !== this.offset) {
      throw dataLoss(
        `${this.subject()}: data file holds ${onDisk} bytes, the writer wrote ${this.offset}`,
      );
    }
    if (size > 0 && size !== this.offset) {
      throw failedPrecondition(`unexpected commit size ${this.offset}, expected ${size}`);
    }
    const actual = this.digest();
    if (expected !== '' && expected !== actual) {
      throw failedPrecondition(`unexpected commit digest ${actual}, expected ${expected}`);
    }
    const target = layout.blobPath(actual);
    if (await pathExists(target)) {
      this.removeIngest();
      throw alreadyExists(`content ${actual}`);
    }
    await handle.datasync();
    const now = Number(nowNanos()) / 1e9; // seconds, to ~0.25 µs
    await handle.utimes(now, now); // the blob's created time is its commit time
    await handle.chmod(0o444);
    const data = join(dir, 'data');
    try {
      // Between the check above and here another ref may commit the same
      // digest; the rename then replaces identical, verified bytes.
      await rename(data, target);
    } catch (err) {
      await chmod(data, 0o644).catch(() => {});
      if (isENOENT(err) && !(await pathExists(data))) {
        // The ingest was aborted under the writer.
        throw notFound(this.subject(), { cause: err });
      }
      throw err;
    }
    await syncDir(layout.blobs);
    this.committed = actual;
    this.removeIngest();
    return actual;
  }

  /**
   * Every {@link FLUSH_EVERY} bytes, starts an fdatasync without waiting for
   * it, so the disk works while data keeps arriving and the commit's own
   * fdatasync has little left to do. Its error is kept for the commit: Linux
   * reports a writeback error to one fsync only.
   */
  private flushInBackground(): void {
    if (this.flushing !== undefined || this.offset - this.flushedTo < FLUSH_EVERY) {
      return;
    }
    this.flushedTo = this.offset;
    this.flushing = this.init.handle
      .datasync()
      .catch((err: unknown) => {
        this.flushError ??= err;
      })
      .finally(() => {
        this.flushing = undefined;
      });
  }

  private removeIngest(): void {
    try {
      removeTree(this.init.dir, this.init.layout.root);
    } catch (err) {
      this.init.log.warn({ err, ref: this.ref }, 'content: could not remove ingest directory');
    }
  }

  private assertOpen(): void {
    if (this.state !== 'open') {
      throw failedPrecondition(`${this.subject()}: writer is closed`);
    }
  }

  private assertWritable(): void {
    this.assertOpen();
    if (this.broken !== undefined) {
      throw this.brokenError();
    }
  }

  private brokenError(): Error {
    return failedPrecondition(
      `${this.subject()}: an earlier write failed; truncate, or open a new writer to resume`,
      { cause: this.broken },
    );
  }

  private subject(): string {
    return `ingest ref ${JSON.stringify(this.ref)}`;
  }

  private serial<T>(op: () => Promise<T>): Promise<T> {
    const run = this.tail.then(op, op);
    this.tail = run.catch(() => {});
    return run;
  }
}

/**
 * Re-reads an ingest's data file from the start to rebuild the hash a
 * resumed writer continues: 1 MiB at a time, reading the next chunk while
 * hashing the current one. Returns the hash and the number of bytes read (the
 * resume offset).
 */
export async function rehash(
  handle: FileHandle,
  signal: AbortSignal,
): Promise<{ hash: Hash; offset: number }> {
  const hash = createHash('sha256');
  let current = Buffer.allocUnsafe(REHASH_CHUNK);
  let spare = Buffer.allocUnsafe(REHASH_CHUNK);
  let offset = 0;
  let reading = handle.read(current, 0, REHASH_CHUNK, 0);
  for (;;) {
    const { bytesRead } = await reading;
    if (bytesRead === 0) {
      return { hash, offset };
    }
    signal.throwIfAborted();
    const next = offset + bytesRead;
    reading = handle.read(spare, 0, REHASH_CHUNK, next);
    hash.update(current.subarray(0, bytesRead));
    offset = next;
    [current, spare] = [spare, current];
  }
}

async function writeAll(handle: FileHandle, data: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await handle.write(data, done, data.length - done, position + done);
    done += bytesWritten;
  }
}
