import { close, constants, open } from 'node:fs';
import type { Socket } from 'node:net';
import { failedPrecondition, resourceExhausted } from '../../core/errdefs/index.js';
import { type Logger, nullLogger } from '../../core/log/index.js';
import type { ProcessIO } from '../../core/tasks/index.js';
import type { StreamOptions, TermSize } from '../streaming/types.js';
import { CriLogLineWriter, DEFAULT_MAX_CONTAINER_LOG_LINE_SIZE } from './cri-logger.js';
import { openFifoWriter } from './fifo.js';
import {
  closeFifoSet,
  type FifoSet,
  openFifoSet,
  removeFifoDir,
  staleExecDirs,
} from './fifo-set.js';
import { LogFile } from './log-file.js';
import { DEFAULT_MAX_ATTACH_BUFFER, type DetachReason, OutputPump } from './output-pump.js';
import { copyStdin, endSocket, type StdinCopy } from './stdin.js';

export interface ContainerIOOptions {
  /** The container has a TTY: one output stream (stdout). */
  tty: boolean;
  /** The container's config asks for stdin. */
  stdin: boolean;
  /** Its stdin is closed when the first attacher's stdin ends. */
  stdinOnce: boolean;
  /** containerd's `max_container_log_line_size`: default 16 KiB; ≤ 0 no limit. */
  maxLogLineSize?: number;
  /** What an attacher may hold unread before it is dropped; default 1 MiB. */
  maxAttachBuffer?: number;
  /** How long an attach waits for the shim's reader of stdin; default 10 s. */
  stdinOpenTimeoutMs?: number;
  log?: Logger;
}

/** How to attach: the client's streams, plus what only the task can do. */
export interface AttachOptions extends StreamOptions {
  /** Ends the container's stdin: the task's CloseIO. Called when stdin_once ends it. */
  closeStdin?: () => Promise<void>;
  /** Resizes the container's terminal (the task's ResizePty) on each `resize` event. */
  resizePty?: (size: TermSize) => Promise<void>;
}

/** How long ending stdin waits for what the container has not read yet. */
const STDIN_FLUSH_TIMEOUT_MS = 5_000;
/** How long an attach waits for the shim's reader of stdin. */
const STDIN_OPEN_TIMEOUT_MS = 10_000;

/**
 * A CRI container's standard streams (containerd's `pkg/cri/io`
 * ContainerIO): its FIFOs in a directory of berthd's state, their output
 * copied into the CRI log file kubelet names and to attached clients, and
 * attached clients' input copied to its stdin.
 *
 * Lifecycle: {@link create} at CreateContainer, and again from the same
 * directory when berthd recovers the container after a restart (the FIFOs
 * are found where they were; the shim kept its ends open, so output waits
 * in the pipe, up to its 64 KiB, with the container blocking beyond it).
 * {@link startLogging} before the task is created (or, on recovery, right
 * away): output is read only from then on. {@link cancel} and then
 * {@link wait} when the task has exited, before it is deleted: it resolves
 * once all output has been copied. {@link close} when the container is
 * removed; {@link release} when berthd stops and the container keeps
 * running.
 */
export class ContainerIO {
  private readonly stdoutPump: OutputPump;
  private readonly stderrPump: OutputPump | undefined;
  /** The write side of stdin: opened at the first attach with input, once the shim reads. */
  private stdinWriter: Promise<Socket> | undefined;
  private readonly stdinAbort = new AbortController();
  private stdinClosed = false;
  private logFile: LogFile | undefined;
  private logging = false;
  private copied: Promise<void> | undefined;
  private closed = false;
  private readonly log: Logger;
  private readonly maxLogLineSize: number;

  private constructor(
    private readonly fifos: FifoSet,
    private readonly opts: ContainerIOOptions,
  ) {
    this.log = opts.log ?? nullLogger;
    this.maxLogLineSize = opts.maxLogLineSize ?? DEFAULT_MAX_CONTAINER_LOG_LINE_SIZE;
    const maxAttach = opts.maxAttachBuffer ?? DEFAULT_MAX_ATTACH_BUFFER;
    this.stdoutPump = new OutputPump(fifos.stdout, maxAttach);
    this.stderrPump = fifos.stderr && new OutputPump(fifos.stderr, maxAttach);
  }

  /**
   * Makes the container's FIFOs in `dir` (0700; kept if they are there
   * already) and opens berthd's reading ends; stdin's writing end is opened
   * at the first attach with input. Exec FIFO directories left in `dir` by
   * a berthd that stopped mid-exec are removed.
   */
  static async create(dir: string, opts: ContainerIOOptions): Promise<ContainerIO> {
    const fifos = await openFifoSet(dir, { stdin: opts.stdin, tty: opts.tty });
    for (const stale of await staleExecDirs(dir)) await removeFifoDir(stale);
    return new ContainerIO(fifos, opts);
  }

  /** The directory of the FIFOs (exec FIFOs go in directories under it). */
  get dir(): string {
    return this.fifos.dir;
  }

  /** The FIFO paths for `TaskManager.create`. */
  get io(): ProcessIO {
    return this.fifos.io;
  }

  /**
   * Starts copying the output: into the CRI log at `logPath` (opened for
   * appending; containerd's path rules), and to attachers. With no path
   * the output goes to attachers only. Once per ContainerIO.
   */
  async startLogging(logPath?: string): Promise<void> {
    this.assertOpen('start logging');
    if (this.logging) throw failedPrecondition(`container io ${this.dir}: logging already started`);
    this.logging = true;
    let file: LogFile | undefined;
    try {
      if (logPath) file = await LogFile.open(logPath, this.log);
    } catch (err) {
      this.logging = false;
      throw err;
    }
    if (this.closed) {
      await file?.close();
      return;
    }
    this.logFile = file;
    const lineWriter = (stream: 'stdout' | 'stderr') =>
      file && new CriLogLineWriter(stream, this.maxLogLineSize, (line) => file.write(line));
    this.stdoutPump.start(lineWriter('stdout'), file);
    this.stderrPump?.start(lineWriter('stderr'), file);
    this.copied = Promise.all([this.stdoutPump.done, this.stderrPump?.done]).then(() =>
      file?.close(),
    );
  }

  /**
   * Reopens the log file at its path (ReopenContainerLog, after kubelet has
   * renamed it): later lines go to a new file. Nothing to do without a log.
   * Whether the container runs is the caller's check.
   */
  async reopenLog(): Promise<void> {
    this.assertOpen('reopen the log');
    await this.logFile?.reopen();
  }

  /** Resolves when the output has been copied to its end and the log file closed. */
  async wait(): Promise<void> {
    await this.copied;
  }

  /**
   * Stops waiting for a shim that will not write again (containerd's
   * `IO.Cancel`): once the shims' writers are gone, the output ends after
   * what the pipes hold has been read. Call it when the task has exited,
   * before {@link wait}: a FIFO reopened after a restart whose writer was
   * already gone would otherwise never see its end (Linux holds back EOF
   * from a reader opened with no writer until one has come and gone, so
   * this opens and closes a writer). A shim still holding its writer is
   * not cut short: its output ends when it closes it.
   */
  async cancel(): Promise<void> {
    if (this.closed) return;
    for (const path of [this.io.stdout, this.io.stderr]) {
      if (path !== '') await pokeWriter(path);
    }
  }

  /**
   * Attaches a client (containerd's ContainerIO.Attach): it gets the
   * output from now on, and its stdin goes to the container's (when the
   * container has one). Resolves when the attach ends: the container's
   * output has ended, the client's stdout or stderr was closed, or its
   * stdin ended (without stdin_once, or with a TTY; with stdin_once and no
   * TTY, the end of stdin closes the container's stdin and the output goes
   * on). Rejects `resource_exhausted` when the client reads too slowly and
   * was dropped (the log never waits for a client), and `unavailable` when
   * only stdin was asked for and the shim does not read it.
   */
  async attach(o: AttachOptions): Promise<void> {
    this.assertOpen('attach');
    return new Promise<void>((resolve, reject) => {
      const removers: (() => void)[] = [];
      let outputs = 0;
      let finished = false;
      let stdin: StdinCopy | undefined;
      const once = this.opts.stdinOnce && !this.opts.tty;
      const finish = (err?: Error) => {
        if (finished) return;
        finished = true;
        for (const remove of removers) remove();
        if (stdin !== undefined) {
          stdin.stop();
          // A client of a stdin_once container that goes away ends its stdin.
          if (once) void this.closeContainerStdin(o.closeStdin);
        }
        // An attach ended while stdin was still opening: nothing reads the client.
        else if (o.stdin !== undefined) o.stdin.pause();
        if (err) reject(err);
        else resolve();
      };
      const gone = (reason: DetachReason) => {
        if (reason === 'slow') {
          finish(
            resourceExhausted(
              `attach to container io ${this.dir}: the client read too slowly and was dropped`,
            ),
          );
        } else if (reason === 'closed' || --outputs === 0) {
          finish();
        }
      };
      const pumps: [OutputPump | undefined, StreamOptions['stdout']][] = [
        [this.stdoutPump, o.stdout],
        [this.opts.tty ? undefined : this.stderrPump, o.stderr],
      ];
      for (const [pump, out] of pumps) {
        if (pump === undefined || out === undefined) continue;
        outputs++;
        removers.push(pump.attach(out, gone));
        if (finished) return;
      }
      const input = o.stdin;
      const wantsStdin = input !== undefined && this.io.stdin !== '' && !this.stdinClosed;
      if (wantsStdin) {
        this.openStdin().then(
          (socket) => {
            if (finished) return;
            stdin = copyStdin(input, socket, () => {
              if (once) {
                void this.closeContainerStdin(o.closeStdin);
                if (outputs === 0) finish();
              } else {
                finish();
              }
            });
          },
          (err: Error) => {
            // The shim reads no stdin (a stdin_once container whose stdin
            // was closed before a restart): the output still goes on.
            this.log.warn({ err, dir: this.dir }, 'attach: the container stdin cannot be opened');
            if (outputs === 0) finish(err);
          },
        );
      }
      if (o.resize !== undefined && o.resizePty !== undefined) {
        void this.forwardResize(o.resize, o.resizePty, () => finished);
      }
      if (outputs === 0 && !wantsStdin) finish();
    });
  }

  /** Closes berthd's ends and the log, keeping the FIFOs for a later {@link create}. */
  async release(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stdoutPump.close();
    this.stderrPump?.close();
    closeFifoSet(this.fifos);
    this.stdinAbort.abort();
    const stdin = this.stdinWriter;
    this.stdinWriter = undefined;
    await stdin?.then(
      (s) => s.destroy(),
      () => undefined,
    );
    await this.logFile?.close();
    await this.copied;
  }

  /** Closes everything and removes the FIFO directory (the container is gone). */
  async close(): Promise<void> {
    await this.release();
    await removeFifoDir(this.dir);
  }

  /**
   * The write side of the container's stdin, opened once: the shim opens
   * its reader when the task is created, so it is there for an attach.
   * Fails `unavailable` when it is not (the task is gone); a later attach
   * tries again.
   */
  private openStdin(): Promise<Socket> {
    if (this.stdinWriter === undefined) {
      const opening = openFifoWriter(this.io.stdin, {
        timeoutMs: this.opts.stdinOpenTimeoutMs ?? STDIN_OPEN_TIMEOUT_MS,
        signal: this.stdinAbort.signal,
      });
      this.stdinWriter = opening;
      opening.catch(() => {
        if (this.stdinWriter === opening) this.stdinWriter = undefined;
      });
    }
    return this.stdinWriter;
  }

  private async closeContainerStdin(closeStdin?: () => Promise<void>): Promise<void> {
    if (this.stdinClosed) return;
    this.stdinClosed = true;
    const writer = this.stdinWriter;
    this.stdinWriter = undefined;
    if (writer !== undefined) {
      const socket = await writer.catch(() => undefined);
      if (socket !== undefined) await endSocket(socket, STDIN_FLUSH_TIMEOUT_MS);
    }
    try {
      await closeStdin?.();
    } catch (err) {
      this.log.warn({ err, dir: this.dir }, 'closing the container stdin failed');
    }
  }

  private async forwardResize(
    sizes: AsyncIterable<TermSize>,
    resizePty: (size: TermSize) => Promise<void>,
    done: () => boolean,
  ): Promise<void> {
    try {
      for await (const size of sizes) {
        if (done() || this.closed) return;
        await resizePty(size).catch((err) =>
          this.log.warn({ err, dir: this.dir }, 'resizing the container terminal failed'),
        );
      }
    } catch (err) {
      this.log.debug({ err }, 'resize events ended with an error');
    }
  }

  private assertOpen(what: string): void {
    if (this.closed) throw failedPrecondition(`cannot ${what}: container io ${this.dir} is closed`);
  }
}

/** Opens and closes a writer of the FIFO at `path`, which never blocks while berthd reads it. */
function pokeWriter(path: string): Promise<void> {
  return new Promise((resolve) => {
    open(path, constants.O_WRONLY | constants.O_NONBLOCK, (err, fd) => {
      // ENXIO: no reader (berthd's end is closed): nothing waits for an end.
      if (err) return resolve();
      close(fd, () => resolve());
    });
  });
}
