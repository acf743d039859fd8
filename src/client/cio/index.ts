/**
 * @module cio
 * A process's standard streams, as containerd's `cio` package: a
 * {@link Creator} makes the {@link IO} of one process (its FIFOs or log
 * URIs, and the copying between them and the caller's streams) when a task
 * or exec is created; the paths go to the daemon, which hands them to the
 * shim. FIFOs are removed when the process is deleted.
 *
 * ```ts
 * const task = await container.newTask(cio.withStdio());
 * const task = await container.newTask(cio.withStreams(input, output, errors, { terminal: true }));
 * ```
 */
import type { Socket } from 'node:net';
import { type Readable, Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { invalidArgument } from '../../core/errdefs/index.js';
import {
  defaultFifoDir,
  FifoReader,
  type FifoSet,
  FifoWriter,
  newFifoSet,
  removeFifoSet,
} from './fifos.js';

export { defaultFifoDir } from './fifos.js';

/** What the daemon gets: FIFO paths or URIs (`file:///…`, `binary:///…`); empty for none. */
export interface IOConfig {
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
}

/** The IO of one process (containerd's `cio.IO`). */
export interface IO {
  readonly config: IOConfig;
  /** Stops waiting for the shim: pending opens complete, copying stops. */
  cancel(): void;
  /** Resolves when copying has finished (the shim closed its ends, or {@link cancel}). */
  wait(): Promise<void>;
  /** Closes the client's ends and removes the FIFOs. */
  close(): Promise<void>;
  /** Ends stdin: the process reads EOF. */
  closeStdin(): Promise<void>;
  /**
   * Resolves once the caller's stdin stream has ended and been copied;
   * never, without one. The shim holds the stdin FIFO open itself, so the
   * process sees EOF only after a CloseIO call: the task sends it then.
   */
  readonly stdinEnded: Promise<void>;
}

/** Makes the IO of process `id` (the container id, or the exec id). */
export type Creator = (id: string) => Promise<IO>;

/** Options of the FIFO creators ({@link withStdio}, {@link withStreams}): containerd's `cio.Opt`s. */
export interface CreatorOptions {
  /** A TTY: stdout carries both streams, stdin is the terminal's input. */
  terminal?: boolean;
  /** Where the FIFO directory is made; default {@link defaultFifoDir}. */
  fifoDir?: string;
}

/** The caller's stdin, stdout and stderr (containerd's `cio.WithStdio`). */
export function withStdio(opts: CreatorOptions = {}): Creator {
  return withStreams(process.stdin, process.stdout, process.stderr, opts);
}

/**
 * Copies `stdin` into the process and its output into `stdout` and
 * `stderr` (containerd's `cio.WithStreams`). A stream left out (undefined)
 * is not connected. The caller's writables are not ended: the process's EOF
 * is only the end of copying.
 */
export function withStreams(
  stdin: Readable | undefined,
  stdout: Writable | undefined,
  stderr: Writable | undefined,
  opts: CreatorOptions = {},
): Creator {
  const terminal = opts.terminal ?? false;
  return async (id) => {
    // The runc shim opens stdout and stderr both or neither (it takes an
    // empty path for a file name): with one given, the other is drained.
    const output = stdout !== undefined || stderr !== undefined;
    const set = await newFifoSet(opts.fifoDir ?? defaultFifoDir(), id, {
      stdin: stdin !== undefined,
      stdout: output,
      stderr: output,
      terminal,
    });
    return new PipedIO(
      set,
      stdin,
      stdout ?? discard(),
      terminal ? undefined : (stderr ?? discard()),
    );
  };
}

/** No streams: the process's stdio is /dev/null (containerd's `cio.NullIO`). */
export function nullIO(): Creator {
  return async () => new UriIO({ stdin: '', stdout: '', stderr: '', terminal: false });
}

/**
 * stdout and stderr appended to a file the shim writes (containerd's
 * `cio.LogFile`: a `file://` URI, no FIFOs). `path` must be absolute.
 */
export function logFile(path: string): Creator {
  if (!path.startsWith('/')) throw invalidArgument(`log file "${path}" must be an absolute path`);
  const uri = pathToFileURL(path).href;
  return async () => new UriIO({ stdin: '', stdout: uri, stderr: uri, terminal: false });
}

/**
 * stdout and stderr sent to a logging binary the shim starts (containerd's
 * `cio.BinaryIO`), with `args` as query parameters.
 */
export function binaryIO(binary: string, args: Record<string, string> = {}): Creator {
  if (!binary.startsWith('/')) {
    throw invalidArgument(`logging binary "${binary}" must be an absolute path`);
  }
  // A file: URL cannot change scheme; its path is encoded the same way.
  const query = new URLSearchParams(args).toString();
  const uri = `binary://${pathToFileURL(binary).pathname}${query === '' ? '' : `?${query}`}`;
  return async () => new UriIO({ stdin: '', stdout: uri, stderr: uri, terminal: false });
}

/** A writable that drops what it is given. */
function discard(): Writable {
  return new Writable({ write: (_chunk, _enc, done) => done() });
}

/** IO the shim handles alone (no FIFOs, nothing to copy). */
class UriIO implements IO {
  readonly stdinEnded: Promise<void> = new Promise(() => {});
  constructor(readonly config: IOConfig) {}
  cancel(): void {}
  async wait(): Promise<void> {}
  async close(): Promise<void> {}
  async closeStdin(): Promise<void> {}
}

/** FIFOs with copying to and from the caller's streams. */
class PipedIO implements IO {
  readonly config: IOConfig;
  private readonly readers: FifoReader[] = [];
  private stdinWriter: FifoWriter | undefined;
  private readonly sockets: Socket[] = [];
  private readonly copies: Promise<void>[] = [];
  private stdinSocket: Socket | undefined;
  private stdinSource: Readable | undefined;
  private stdinOpened: Promise<void> = Promise.resolve();
  readonly stdinEnded: Promise<void>;
  private markStdinEnded: () => void = () => {};
  private closed = false;

  constructor(
    private readonly set: FifoSet,
    stdin: Readable | undefined,
    stdout: Writable | undefined,
    stderr: Writable | undefined,
  ) {
    this.config = {
      stdin: set.stdin,
      stdout: set.stdout,
      stderr: set.stderr,
      terminal: set.terminal,
    };
    this.stdinEnded = new Promise((resolve) => {
      this.markStdinEnded = resolve;
    });
    if (stdin !== undefined && set.stdin !== '') {
      const writer = new FifoWriter(set.stdin);
      this.stdinWriter = writer;
      this.stdinSource = stdin;
      this.stdinOpened = writer.opened.then(
        (w) => {
          if (w === undefined || this.closed) return;
          this.stdinSocket = w;
          // A shim gone or a closed stdin must not crash the caller.
          w.on('error', () => {});
          // The end of the caller's stream closes the FIFO: the process reads EOF.
          w.on('finish', () => {
            w.destroy();
            this.markStdinEnded();
          });
          stdin.pipe(w);
        },
        () => undefined,
      );
    }
    if (stdout !== undefined && set.stdout !== '') this.copyOut(set.stdout, stdout);
    if (stderr !== undefined && set.stderr !== '') this.copyOut(set.stderr, stderr);
  }

  private copyOut(path: string, to: Writable): void {
    const reader = new FifoReader(path);
    this.readers.push(reader);
    this.copies.push(
      reader.opened.then(
        (socket) =>
          new Promise<void>((resolve) => {
            if (socket === undefined) return resolve();
            socket.on('data', (chunk: Buffer) => {
              if (!to.write(chunk)) {
                socket.pause();
                to.once('drain', () => socket.resume());
              }
            });
            socket.once('error', () => resolve());
            socket.once('close', () => resolve());
            this.sockets.push(socket);
          }),
        () => undefined,
      ),
    );
  }

  cancel(): void {
    for (const r of this.readers) r.cancel();
    this.stdinWriter?.cancel();
  }

  async wait(): Promise<void> {
    await Promise.all(this.copies);
  }

  async closeStdin(): Promise<void> {
    this.stdinWriter?.cancel();
    await this.stdinOpened;
    const w = this.stdinSocket;
    if (w === undefined) return;
    this.stdinSocket = undefined;
    this.stdinSource?.unpipe(w);
    if (w.destroyed) return;
    await new Promise<void>((resolve) => {
      w.once('close', () => resolve());
      w.end();
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.cancel();
    if (this.stdinSocket !== undefined) {
      this.stdinSource?.unpipe(this.stdinSocket);
      this.stdinSocket.destroy();
    }
    // A source nothing else reads (process.stdin) must not keep the caller's process alive.
    if (this.stdinSource !== undefined && this.stdinSource.listenerCount('data') === 0) {
      this.stdinSource.pause();
    }
    for (const s of this.sockets) s.destroy();
    removeFifoSet(this.set);
  }
}
