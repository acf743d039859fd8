import { type Readable, Writable } from 'node:stream';
import { withStreams } from '../../client/cio/index.js';
import type { Container, Creator, Task } from '../../client/index.js';
import type { CliContext } from '../context.js';
import { CliError } from '../errors.js';
import type { LogConfig, LogWriter } from '../logs/index.js';
import { deleteTask, startError } from './lifecycle.js';

/** How long a container whose output pipe broke has to exit on SIGPIPE before SIGKILL. */
const PIPE_GRACE_MS = 2000;

/** Signals a foreground container without a terminal gets from berth (docker's sig-proxy). */
const PROXIED: readonly NodeJS.Signals[] = [
  'SIGINT',
  'SIGTERM',
  'SIGHUP',
  'SIGQUIT',
  'SIGUSR1',
  'SIGUSR2',
];

/**
 * A container's stdio attached to berth's own: FIFOs copied to the
 * terminal and teed into the container's json log (so `berth logs` has
 * what a foreground run printed), stdin with `-i`.
 */
export class Attachment {
  private constructor(
    private readonly ctx: CliContext,
    private readonly writer: LogWriter,
    readonly tty: boolean,
    private readonly stdin: boolean,
    private readonly fifoDir: string | undefined,
  ) {}

  private task: Task | undefined;
  private broken = false;
  private sentPipe = false;

  /**
   * Opens the container's log file; `stdin`: copy berth's stdin in (`-i`);
   * `fifoDir`: where the task's FIFOs are made (see {@link fifoDirOf}).
   */
  static async open(
    ctx: CliContext,
    log: LogConfig,
    opts: { tty: boolean; stdin: boolean; fifoDir?: string },
  ): Promise<Attachment> {
    if (opts.tty && opts.stdin && ctx.io.stdin.isTTY !== true) {
      throw new CliError('the input device is not a TTY');
    }
    const { LogWriter } = await import('../logs/index.js');
    const writer = await LogWriter.open({
      path: log.path,
      maxSize: log.maxSize,
      maxFiles: log.maxFiles,
      onError: (err) => ctx.warn(`container log ${log.path}: ${(err as Error).message}`),
    });
    return new Attachment(ctx, writer, opts.tty, opts.stdin, opts.fifoDir);
  }

  /** The IO creator for the task: FIFOs whose output goes to berth's stdout/stderr and the log. */
  creator(): Creator {
    const gone = () => this.outputGone();
    const out = tee(this.ctx.io.stdout, (c) => this.writer.write('stdout', c), gone);
    const err = tee(this.ctx.io.stderr, (c) => this.writer.write('stderr', c), gone);
    return withStreams(
      this.stdin ? (this.ctx.io.stdin as Readable) : undefined,
      out,
      this.tty ? undefined : err,
      { terminal: this.tty, ...(this.fifoDir !== undefined && { fifoDir: this.fifoDir }) },
    );
  }

  /**
   * While the task runs: the terminal in raw mode and its size followed
   * (`-t`), or berth's signals forwarded to the container (no terminal).
   * Answers the function that undoes it.
   */
  follow(task: Task): () => void {
    this.task = task;
    if (this.broken) this.outputGone();
    const undo: (() => void)[] = [];
    const stdin = this.ctx.io.stdin as NodeJS.ReadStream;
    const stdout = this.ctx.io.stdout as NodeJS.WriteStream;
    if (this.tty) {
      if (this.stdin && stdin.isTTY === true && typeof stdin.setRawMode === 'function') {
        stdin.setRawMode(true);
        undo.push(() => stdin.setRawMode(false));
      }
      if (stdout.isTTY === true) {
        const resize = () => {
          if (stdout.columns > 0 && stdout.rows > 0) {
            task.resize(stdout.columns, stdout.rows).catch(() => undefined);
          }
        };
        resize();
        process.on('SIGWINCH', resize);
        undo.push(() => process.off('SIGWINCH', resize));
      }
    } else {
      for (const sig of PROXIED) {
        const forward = () => {
          task.kill(sig).catch(() => undefined);
        };
        process.on(sig, forward);
        undo.push(() => process.off(sig, forward));
      }
    }
    return () => {
      for (const u of undo.reverse()) u();
    };
  }

  /**
   * `run` and `start -a`'s foreground: a new task of `container` on this
   * attachment, started, followed until it exits, its output drained.
   * Answers the task (stopped, not deleted: the caller decides) and its
   * exit code. A task that cannot be made or started is deleted and this
   * attachment closed; the error is startError's (127/126/125).
   */
  async runTask(container: Container, name: string): Promise<{ task: Task; exitCode: number }> {
    let task: Task;
    try {
      task = await container.newTask(this.creator());
    } catch (err) {
      await this.close();
      throw startError(err, name);
    }
    const exited = task.wait();
    exited.catch(() => undefined);
    const unfollow = this.follow(task);
    try {
      await task.start();
    } catch (err) {
      unfollow();
      await deleteTask(task).catch(() => undefined);
      await this.close();
      throw startError(err, name);
    }
    let exitCode: number;
    try {
      exitCode = (await exited).exitCode;
    } finally {
      unfollow();
    }
    await task.drainIO();
    return { task, exitCode };
  }

  /**
   * berth's stdout or stderr is a pipe whose reader went away (`berth run
   * … | head -1`): the container ends as a process writing into that pipe
   * would. It gets SIGPIPE, which its PID 1 ignores without a handler, so
   * SIGKILL follows after {@link PIPE_GRACE_MS}: the one reader of its
   * output is berth, and a container nobody reads would run on unseen.
   * Its output still goes to its log meanwhile.
   */
  private outputGone(): void {
    this.broken = true;
    const task = this.task;
    if (task === undefined || this.sentPipe) return;
    this.sentPipe = true;
    task.kill('SIGPIPE').catch(() => undefined);
    setTimeout(() => task.kill('SIGKILL').catch(() => undefined), PIPE_GRACE_MS).unref();
  }

  /** Closes the log file: everything copied is written. */
  async close(): Promise<void> {
    await this.writer.close();
  }
}

/**
 * A writable copying to `to` and handing each chunk to `log` (which may
 * hold the copy back). Once `to` fails (a closed pipe), chunks only go to
 * the log and `gone` is called.
 */
function tee(
  to: NodeJS.WritableStream,
  log: (chunk: Buffer) => Promise<void>,
  gone: () => void,
): Writable {
  let failed = false;
  const fail = () => {
    if (failed) return;
    failed = true;
    gone();
  };
  // berth's own stdout and stderr: their errors (EPIPE) are this copy's to handle.
  to.on('error', fail);
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      if (!failed) to.write(chunk, (err) => err && fail());
      log(chunk).then(
        () => done(),
        () => done(),
      );
    },
  });
}
