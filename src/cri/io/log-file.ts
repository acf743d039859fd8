import { EventEmitter } from 'node:events';
import type { WriteStream } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { internal } from '../../core/errdefs/index.js';
import type { Logger } from '../../core/log/index.js';

/**
 * How much a log file holds unwritten before its writers are asked to wait:
 * enough for reading the FIFO and writing the file to overlap.
 */
const HIGH_WATER_MARK = 256 * 1024;

/**
 * The CRI log file of one container, shared by its stdout and stderr line
 * writers: whole lines are appended in the order they are given. The file
 * is opened as containerd opens it (parent directories 0755, the file 0640,
 * O_APPEND, created if missing), and can be reopened at the same path after
 * kubelet has renamed it for rotation. A write error is logged and the
 * output still drained, as containerd does: losing log lines must not stop
 * the container.
 *
 * `writable` is false while more than 256 KiB wait to be written; `'drain'`
 * is emitted when writing may go on.
 */
export class LogFile extends EventEmitter<{ drain: [] }> {
  private stream: WriteStream | undefined;
  private broken = false;
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly log: Logger,
  ) {
    super();
  }

  static async open(path: string, log: Logger): Promise<LogFile> {
    const file = new LogFile(path, log);
    file.attach(await openStream(path));
    return file;
  }

  get writable(): boolean {
    return this.stream === undefined || this.broken || !this.stream.writableNeedDrain;
  }

  /** Appends `line`; answers {@link writable}. Dropped once the file is closed. */
  write(line: Buffer): boolean {
    if (this.stream === undefined || this.broken) return true;
    return this.stream.write(line);
  }

  /**
   * Opens the file at its path again (a new file, if kubelet has renamed
   * the old one): lines given after this call go to the new file, those
   * before it are still written to the old one. The old file is kept if the
   * open fails.
   */
  async reopen(): Promise<void> {
    if (this.closed) throw internal(`reopen log file ${this.path}: closed`);
    const next = await openStream(this.path);
    if (this.closed) {
      next.destroy();
      return;
    }
    const old = this.stream;
    this.attach(next);
    this.broken = false;
    if (old !== undefined) {
      old.removeAllListeners('drain');
      old.end();
    }
    this.emit('drain');
  }

  /** Writes what is pending and closes the file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const s = this.stream;
    this.stream = undefined;
    this.emit('drain');
    if (s === undefined || s.destroyed) return;
    await new Promise<void>((resolve) => {
      s.once('close', () => resolve());
      s.end();
    });
  }

  private attach(s: WriteStream): void {
    this.stream = s;
    s.on('drain', () => this.emit('drain'));
    s.on('error', (err) => {
      if (s !== this.stream) return;
      this.log.error({ err, path: this.path }, 'writing the container log failed');
      this.broken = true;
      this.emit('drain');
    });
  }
}

async function openStream(path: string): Promise<WriteStream> {
  try {
    await mkdir(dirname(path), { recursive: true, mode: 0o755 });
    const handle = await open(path, 'a', 0o640);
    return handle.createWriteStream({ highWaterMark: HIGH_WATER_MARK });
  } catch (err) {
    throw internal(`open log file ${path}: ${(err as Error).message}`, { cause: err });
  }
}
