import { nowNs } from './clock.js';
import { encodeEntry, type LogStream } from './jsonlog.js';
import { LineSplitter } from './line-splitter.js';
import { RotatingFile } from './rotating-file.js';

export interface LogWriterOptions {
  /** The json log file (`<dir>/<id>-json.log`). */
  path: string;
  /** Bytes; 0 or less: never rotated. */
  maxSize: number;
  /** Files kept, the current one included. */
  maxFiles: number;
  /** Write failures (full disk): reported here, the entries dropped. */
  onError?: (err: unknown) => void;
}

/**
 * A container's stdout and stderr into docker's json-file format with
 * rotation. The logger the shim runs uses it; so does the CLI when it
 * attaches a container's stdio itself (`berth run` in the foreground, `-i`,
 * `-t`). Messages of each stream keep their order; entries are timed when
 * their message is complete.
 *
 * Imported by the logger entry: node builtins only.
 */
export class LogWriter {
  private readonly file: RotatingFile;
  private readonly splitters: Record<LogStream, LineSplitter>;

  private constructor(opts: LogWriterOptions) {
    this.file = new RotatingFile(opts.path, opts.maxSize, opts.maxFiles, opts.onError);
    this.splitters = {
      stdout: new LineSplitter((m) => this.file.write(encodeEntry('stdout', m, nowNs()))),
      stderr: new LineSplitter((m) => this.file.write(encodeEntry('stderr', m, nowNs()))),
    };
  }

  /** Opens (creates) the log file. */
  static async open(opts: LogWriterOptions): Promise<LogWriter> {
    const w = new LogWriter(opts);
    await w.file.open();
    return w;
  }

  /**
   * Logs a chunk of `stream`. Resolves at once while little is queued, else
   * when the queue has drained: await it to hold the source back.
   */
  write(stream: LogStream, chunk: Buffer): Promise<void> {
    return this.writeNoWait(stream, chunk)
      ? Promise.resolve()
      : new Promise((res) => this.file.onDrain(res));
  }

  /** Logs a chunk of `stream`; false when the caller should wait for {@link onDrain}. */
  writeNoWait(stream: LogStream, chunk: Buffer): boolean {
    this.splitters[stream].push(chunk);
    return !this.file.full;
  }

  onDrain(cb: () => void): void {
    this.file.onDrain(cb);
  }

  /** Writes `stream`'s unfinished line (no `\n`): its end. */
  endStream(stream: LogStream): void {
    this.splitters[stream].flush();
  }

  /** Writes both streams' unfinished lines and everything queued; closes the file. */
  async close(): Promise<void> {
    this.endStream('stdout');
    this.endStream('stderr');
    await this.file.close();
  }
}
