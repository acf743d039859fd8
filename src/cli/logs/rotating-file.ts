import { type FileHandle, open, rename, unlink } from 'node:fs/promises';

/**
 * An append-only file rotated as docker's json-file driver rotates: when the
 * next entry would take the file past `maxSize` bytes, `<path>` becomes
 * `<path>.1`, `.1` becomes `.2` …, keeping `maxFiles - 1` rotated files
 * (`maxFiles` 1: the file is emptied instead). `maxSize` 0 or less: never rotated.
 *
 * Writes never block the caller: entries queue in memory and are written
 * in order by one asynchronous loop. {@link write} answers false once
 * {@link HIGH_WATER} bytes wait, and {@link onDrain} callbacks run when the
 * queue empties: callers stop reading their source in between, so memory
 * stays bounded and a slow disk holds the container back only once its pipe
 * buffer is full too. A failed write is reported to `onError` and its entries
 * dropped (the logger must outlive a full disk: if it exits, the container's
 * writes fail).
 *
 * Imported by the logger entry: node builtins only.
 */
export class RotatingFile {
  static readonly HIGH_WATER = 1024 * 1024;

  private fh: FileHandle | undefined;
  private size = 0;
  private queue: Buffer[] = [];
  private queued = 0;
  private pumping: Promise<void> | undefined;
  private drainWaiters: (() => void)[] = [];
  private closed = false;

  constructor(
    readonly path: string,
    readonly maxSize: number,
    readonly maxFiles: number,
    private readonly onError: (err: unknown) => void = () => {},
  ) {}

  /** Opens (creates) the file for appending; its current size counts toward max-size. */
  async open(): Promise<void> {
    this.fh = await open(this.path, 'a', 0o640);
    this.size = (await this.fh.stat()).size;
  }

  /** Queues one entry; false when the caller should wait for {@link onDrain}. */
  write(entry: Buffer): boolean {
    if (this.closed) throw new Error(`log file ${this.path} is closed`);
    this.queue.push(entry);
    this.queued += entry.length;
    if (this.pumping === undefined) this.pumping = this.pump();
    return !this.full;
  }

  /** True while {@link HIGH_WATER} bytes or more wait to be written. */
  get full(): boolean {
    return this.queued >= RotatingFile.HIGH_WATER;
  }

  /** Runs `cb` once every queued entry is written (at once when none waits). */
  onDrain(cb: () => void): void {
    if (this.queued === 0) queueMicrotask(cb);
    else this.drainWaiters.push(cb);
  }

  /** Resolves once everything queued is written; closes the file. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.pumping) await this.pumping;
    await this.fh?.close();
    this.fh = undefined;
  }

  private async pump(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch: Buffer[] = [];
        let bytes = 0;
        let rotate = false;
        while (this.queue.length > 0) {
          const next = this.queue[0] as Buffer;
          if (this.wouldExceed(this.size + bytes, next.length)) {
            if (bytes === 0 && this.size === 0) {
              // Larger than max-size on its own: it gets a file to itself.
            } else {
              rotate = true;
              break;
            }
          }
          batch.push(next);
          bytes += next.length;
          this.queue.shift();
          if (bytes >= 256 * 1024) break;
        }
        if (batch.length > 0) {
          try {
            await this.writeAll(Buffer.concat(batch, bytes));
            this.size += bytes;
          } catch (err) {
            this.onError(err);
          }
          this.queued -= bytes;
        }
        if (rotate) {
          try {
            await this.rotate();
          } catch (err) {
            this.onError(err);
            this.size = 0; // do not retry the rotation for every entry
          }
        }
      }
    } finally {
      this.pumping = undefined;
      const waiters = this.drainWaiters;
      this.drainWaiters = [];
      for (const cb of waiters) cb();
    }
  }

  private wouldExceed(size: number, add: number): boolean {
    return this.maxSize > 0 && size + add > this.maxSize;
  }

  private async writeAll(buf: Buffer): Promise<void> {
    if (!this.fh) await this.open();
    let off = 0;
    while (off < buf.length) {
      const { bytesWritten } = await (this.fh as FileHandle).write(buf, off, buf.length - off);
      off += bytesWritten;
    }
  }

  private async rotate(): Promise<void> {
    if (this.maxFiles <= 1) {
      await this.fh?.truncate(0);
      this.size = 0;
      return;
    }
    await this.fh?.close();
    this.fh = undefined;
    await ignoreMissing(unlink(`${this.path}.${this.maxFiles - 1}`));
    for (let i = this.maxFiles - 2; i >= 1; i--) {
      await ignoreMissing(rename(`${this.path}.${i}`, `${this.path}.${i + 1}`));
    }
    await ignoreMissing(rename(this.path, `${this.path}.1`));
    await this.open();
  }
}

async function ignoreMissing(p: Promise<void>): Promise<void> {
  try {
    await p;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
