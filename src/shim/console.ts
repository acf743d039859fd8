/**
 * @module console
 * TTY processes: runc's `--console-socket` and the copy between the pty
 * master and the client's FIFOs.
 *
 * runc connects to the console socket and sends the pty master (SCM_RIGHTS).
 * The shim copies the master's output into the stdout FIFO and the stdin FIFO
 * into the master, with Node streams: all non-blocking, with backpressure (a
 * client that does not read stalls only its own container's output).
 *
 * Output ends when the slave side is closed by every process of the
 * container (reads on the master then fail with EIO: that is EOF).
 *
 * Stdin is read from its FIFO opened read-only while the console holds a
 * write end of its own, so the copy sees no EOF before the client even opened
 * the FIFO. `closeStdin()` (CloseIO) drops that write end: once the client's
 * writers are closed too, the copy ends, as the Go shim's does. The Go shim
 * then closes the master (a hangup for the container); this console, when the
 * line discipline is canonical, writes the EOF character instead (twice after
 * a partial line), so the reader sees EOF and the output goes on; in raw mode,
 * where a terminal has no EOF, it hangs up as the Go shim does.
 */
import {
  chmodSync,
  closeSync,
  createWriteStream,
  constants as fsConstants,
  fstatSync,
  write as fsWrite,
  openSync,
  rmSync,
} from 'node:fs';
import { createServer, type Server, Socket } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { ReadStream } from 'node:tty';
import { deadlineExceeded, invalidArgument } from '../core/errdefs/index.js';
import type { Logger } from '../core/log/index.js';
import { receiveFd } from '../sys/fd-pass.js';
import { close as closeFd, isErrno, O_CLOEXEC } from '../sys/linux.js';
import { dup } from '../sys/process.js';
import { lineMode, setWinsize } from '../sys/pty.js';

/** sockaddr_un's sun_path holds 108 bytes, the NUL included. */
const SUN_PATH_MAX = 107;

/** A listening unix socket for runc's `--console-socket`. */
export class ConsoleSocket {
  private readonly queue: Socket[] = [];
  private notify: (() => void) | undefined;
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly server: Server,
  ) {
    server.on('connection', (sock) => {
      if (this.closed) {
        sock.destroy();
        return;
      }
      sock.on('error', () => {});
      this.queue.push(sock);
      this.notify?.();
    });
  }

  /** A listening socket `console-<random>.sock` in `dir` (mode 0600). */
  static async create(dir: string): Promise<ConsoleSocket> {
    // node:crypto loads on the first TTY only: its 4 ms are off the daemon's start.
    const { randomBytes } = await import('node:crypto');
    const path = join(dir, `console-${randomBytes(6).toString('hex')}.sock`);
    if (Buffer.byteLength(path) > SUN_PATH_MAX) {
      throw invalidArgument(
        `console socket ${JSON.stringify(path)}: longer than ${SUN_PATH_MAX} bytes`,
      );
    }
    const server = createServer({ pauseOnConnect: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    chmodSync(path, 0o600);
    server.unref();
    return new ConsoleSocket(path, server);
  }

  /** The pty master runc sends (SCM_RIGHTS), close-on-exec; the caller owns it. */
  async receive(timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.closed) throw invalidArgument(`console socket ${this.path}: closed`);
      const sock = this.queue.shift();
      if (sock) {
        try {
          return await receiveFd(sock, Math.max(0, deadline - Date.now()));
        } finally {
          sock.destroy();
        }
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw deadlineExceeded(
          `console socket ${this.path}: nobody sent a pty master within ${timeoutMs} ms`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.notify = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.notify = undefined;
    }
  }

  /** Stops listening and removes the socket file. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.queue.splice(0)) s.destroy();
    this.notify?.();
    this.server.close();
    rmSync(this.path, { force: true });
  }
}

const FIFO_READ = fsConstants.O_RDONLY | fsConstants.O_NONBLOCK | O_CLOEXEC;
const FIFO_WRITE = fsConstants.O_WRONLY | fsConstants.O_NONBLOCK | O_CLOEXEC;
const FIFO_RDWR = fsConstants.O_RDWR | fsConstants.O_NONBLOCK | O_CLOEXEC;

/** The pty of one TTY process and the copies between it and the client's FIFOs. */
export class Console {
  /** Resolves when the output side reached EOF (slave closed) and was flushed to the FIFO. */
  readonly done: Promise<void>;
  private resolveDone!: () => void;
  private output: ReadStream | undefined;
  private sink: Writable | undefined;
  private stdinReader: Socket | undefined;
  private stdinHold = -1;
  private writer: PtyWriter | undefined;
  private started = false;
  private closed = false;

  constructor(
    private readonly masterFd: number,
    private readonly log: Logger,
  ) {
    this.done = new Promise((resolve) => {
      this.resolveDone = resolve;
    });
  }

  /**
   * Copies the stdin FIFO into the pty and the pty into the stdout FIFO
   * (paths may be ''; no stdout: the output is read and dropped). `stdoutFd`,
   * when given, is used instead of the stdout path (e.g. a logger's pipe) and
   * closed by the console.
   */
  start(io: { stdin: string; stdout: string; stdoutFd?: number }): void {
    if (this.started || this.closed) throw invalidArgument('console: already started or closed');
    // Every fd first: a missing FIFO fails start() with nothing half set up.
    const opened: number[] = [];
    let sinkFd = io.stdoutFd;
    let readFd = -1;
    try {
      if (sinkFd === undefined && io.stdout !== '') {
        sinkFd = openSync(io.stdout, FIFO_RDWR);
        opened.push(sinkFd);
      }
      if (io.stdin !== '') {
        readFd = openSync(io.stdin, FIFO_READ);
        opened.push(readFd);
        this.stdinHold = openSync(io.stdin, FIFO_WRITE);
      }
    } catch (err) {
      for (const fd of opened) closeSync(fd);
      throw err;
    }
    this.started = true;
    const output = new ReadStream(this.masterFd);
    this.output = output;
    const sink = sinkFd === undefined ? undefined : writableFor(sinkFd);
    this.sink = sink;
    let ended = false;
    const endOutput = () => {
      if (ended) return;
      ended = true;
      if (!sink) return this.resolveDone();
      output.unpipe(sink);
      sink.end(() => {
        sink.destroy();
        this.resolveDone();
      });
    };
    output.on('end', endOutput);
    output.on('close', endOutput); // destroyed (a hangup) without an error
    output.on('error', (err) => {
      if (!isErrno(err, 'EIO')) this.log.warn({ err }, 'console: reading the pty failed');
      endOutput();
    });
    if (sink) {
      sink.on('error', (err) => {
        this.log.warn({ err }, 'console: writing the output failed');
        output.unpipe(sink);
        output.resume(); // keep draining: the container must not block on a dead client
        if (!ended) {
          ended = true;
          this.resolveDone();
        }
      });
      output.pipe(sink, { end: false });
    } else {
      output.resume();
    }

    if (readFd >= 0) {
      const writer = new PtyWriter(dup(this.masterFd));
      this.writer = writer;
      const reader = new Socket({ fd: readFd, readable: true, writable: false });
      this.stdinReader = reader;
      reader.pipe(writer, { end: false });
      reader.on('error', (err) => {
        this.log.warn({ err }, 'console: reading stdin failed');
      });
      writer.on('error', (err) => {
        if (!this.closed) this.log.warn({ err }, 'console: writing to the pty failed');
        reader.unpipe(writer);
        reader.destroy();
      });
      reader.on('end', () => this.sendEof(writer));
    }
  }

  /** Sets the pty's window size (the container gets SIGWINCH). */
  resize(width: number, height: number): void {
    setWinsize(this.masterFd, width, height);
  }

  /** Ends stdin: once the client's writers are closed too, the pty gets EOF (see the module comment). */
  closeStdin(): void {
    if (this.stdinHold < 0) return;
    closeSync(this.stdinHold);
    this.stdinHold = -1;
  }

  /** Closes the pty master and every FIFO fd; the copies stop. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.closeStdin();
    this.stdinReader?.destroy();
    this.writer?.destroy();
    if (this.output) this.output.destroy();
    else closeFd(this.masterFd);
    this.sink?.destroy();
    this.resolveDone();
  }

  private sendEof(writer: PtyWriter): void {
    if (this.closed) return;
    let raw = false;
    // Decided once every byte before it reached the pty (the writer's _final).
    writer.finalBytes = () => {
      let mode: ReturnType<typeof lineMode>;
      try {
        mode = lineMode(this.masterFd);
      } catch (err) {
        this.log.warn({ err }, 'console: reading the pty mode failed');
        return undefined;
      }
      if (!mode.canonical) {
        raw = true;
        return undefined;
      }
      // A partial line takes one EOF character to be sent, the EOF a second.
      const partial = writer.lastByte !== undefined && writer.lastByte !== 0x0a;
      return Buffer.from(partial ? [mode.eof, mode.eof] : [mode.eof]);
    };
    writer.end(() => {
      if (!raw || this.closed) return;
      // Raw mode: a terminal has no EOF; hang up as the Go shim does.
      this.log.debug({}, 'console: stdin closed in raw mode, hanging up the pty');
      this.output?.destroy();
    });
  }
}

/** A writable stream on a FIFO, pipe or socket fd (libuv's pipe), else on a file. */
function writableFor(fd: number): Writable {
  const st = fstatSync(fd);
  if (st.isFIFO() || st.isSocket()) return new Socket({ fd, readable: false, writable: true });
  return createWriteStream('', { fd, flags: 'a' });
}

/**
 * Writes to the pty master through its own (dup'd, non-blocking) fd with
 * fs.write: never blocks the loop. A full pty (EAGAIN: the container reads
 * no input) is retried on a short timer; meanwhile the stdin copy pauses.
 */
class PtyWriter extends Writable {
  lastByte: number | undefined;
  /** Bytes to write after everything else, asked for when the stream ends. */
  finalBytes: (() => Buffer | undefined) | undefined;

  constructor(private readonly fd: number) {
    super({ highWaterMark: 64 * 1024 });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    let off = 0;
    let delay = 1;
    const step = () => {
      if (off >= chunk.length) {
        if (chunk.length > 0) this.lastByte = chunk[chunk.length - 1];
        return cb();
      }
      fsWrite(this.fd, chunk, off, chunk.length - off, null, (err, n) => {
        if (err) {
          if (!isErrno(err, 'EAGAIN')) return cb(err);
          setTimeout(step, delay);
          delay = Math.min(delay * 2, 100);
          return;
        }
        off += n;
        delay = 1;
        step();
      });
    };
    step();
  }

  override _final(cb: (err?: Error | null) => void): void {
    const last = this.finalBytes?.();
    if (last) this._write(last, 'binary', cb);
    else cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    try {
      closeSync(this.fd);
    } catch {
      // closed already
    }
    cb(err);
  }
}
