import { mkdtemp } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { canceled, deadlineExceeded, internal, isNotFound } from '../../core/errdefs/index.js';
import { type Logger, nullLogger } from '../../core/log/index.js';
import type { OpContext } from '../../core/namespaces/index.js';
import type { Exit, Process, Task } from '../../core/tasks/index.js';
import type { StreamOptions } from '../streaming/types.js';
import { openFifoWriter } from './fifo.js';
import {
  closeFifoSet,
  EXEC_DIR_PREFIX,
  type FifoSet,
  openFifoSet,
  removeFifoDir,
} from './fifo-set.js';
import { formatGoDuration } from './go-duration.js';
import { copyStdin, endSocket } from './stdin.js';

/** containerd's cap on each of ExecSync's stdout and stderr: 16 MiB; the rest is dropped. */
export const MAX_EXEC_SYNC_OUTPUT = 16 * 1024 * 1024;

/** The type of an exec's OCI process, as containerd's client sends it. */
const PROCESS_TYPE_URL = 'types.containerd.io/opencontainers/runtime-spec/1/Process';
/** How long an exec's stdin writer waits for the shim's reader. */
const STDIN_OPEN_TIMEOUT_MS = 10_000;
/** How long ending an exec's stdin waits for what it has not read. */
const STDIN_FLUSH_TIMEOUT_MS = 5_000;
/** How long the output of an exec killed at its timeout is waited for, by default. */
const KILLED_DRAIN_MS = 10_000;
/** How long a killed exec is waited for before its delete is tried anyway. */
const KILL_WAIT_MS = 10_000;

export interface ExecOptions extends StreamOptions {
  ctx: OpContext;
  /**
   * The container's io directory ({@link ContainerIO.dir}): the exec's
   * FIFOs go in a directory of their own under it, removed when it ends.
   */
  dir: string;
  /** Kills the exec (SIGKILL) after this long, failing `deadline_exceeded`; none if 0 or absent. */
  timeoutMs?: number;
  /**
   * Once the exec has exited, how long its output may take to end (a child
   * it left may hold it open); 0 or absent waits as long as it takes, as
   * containerd's default `drain_exec_sync_io_timeout` does. After a kill at
   * the timeout, 10 s when absent.
   */
  drainTimeoutMs?: number;
  log?: Logger;
}

/**
 * Runs `process` (an OCI Process: args, env, cwd, user...) in `task` as
 * exec `execId`, with the client's streams, and answers its exit status, as
 * containerd's CRI `execInternal` does: the exec's FIFOs, `exec` then
 * `start`, stdin copied in (its end closes the exec's stdin; with a TTY it
 * ends the output copy instead), output copied out (one stream with a TTY),
 * `resize` events passed to the exec's terminal; once it has exited, its
 * output is copied to the end before the answer. With `timeoutMs`, an exec
 * still running is killed with SIGKILL and the call fails
 * `deadline_exceeded` with containerd's text (`timeout 5s exceeded: context
 * deadline exceeded`); an
 * aborted `ctx.signal` does the same and fails `canceled`. In every case the
 * exec process is deleted and its FIFOs closed and removed.
 */
export async function runExec(
  task: Task,
  execId: string,
  process: object,
  o: ExecOptions,
): Promise<number> {
  const { ctx } = o;
  const log = o.log ?? nullLogger;
  const dir = await mkdtemp(join(o.dir, EXEC_DIR_PREFIX)).catch((err: Error) => {
    throw internal(`exec ${execId}: FIFO directory under ${o.dir}: ${err.message}`, { cause: err });
  });
  let fifos: FifoSet | undefined;
  let proc: Process | undefined;
  let exit: Promise<Exit> | undefined;
  let exited = false;
  let started = false;
  let stopStdin = () => {};
  const waitAbort = new AbortController();
  const stdinAbort = new AbortController();
  const stdinSockets: Socket[] = [];
  const timers: NodeJS.Timeout[] = [];
  try {
    fifos = await openFifoSet(dir, { stdin: o.stdin !== undefined, tty: o.tty });
    const set = fifos;
    const spec = { ...process, terminal: o.tty };
    proc = await task.exec(ctx, execId, {
      ...set.io,
      spec: { typeUrl: PROCESS_TYPE_URL, value: Buffer.from(JSON.stringify(spec)) },
    });
    const p = proc;
    exit = p.wait({ ...ctx, signal: waitAbort.signal }).then((e) => {
      exited = true;
      return e;
    });
    exit.catch(() => {});
    const copies = [copyOutput(set.stdout, o.stdout)];
    if (set.stderr !== undefined) copies.push(copyOutput(set.stderr, o.stderr));
    const output = Promise.all(copies).then(() => {});
    await p.start(ctx);
    started = true;

    const input = o.stdin;
    if (input !== undefined && set.io.stdin !== '') {
      // The shim opens its reader of stdin in Start: the writer waits for it.
      void openFifoWriter(set.io.stdin, {
        timeoutMs: STDIN_OPEN_TIMEOUT_MS,
        signal: stdinAbort.signal,
      }).then(
        (stdinSocket) => {
          if (stdinAbort.signal.aborted) return stdinSocket.destroy();
          stdinSockets.push(stdinSocket);
          const copy = copyStdin(input, stdinSocket, () => {
            if (o.tty) {
              // containerd: with a TTY, the client's stdin ending is the client leaving.
              set.stdout.destroy();
              return;
            }
            void endSocket(stdinSocket, STDIN_FLUSH_TIMEOUT_MS)
              .then(() => p.closeIO(ctx))
              .catch((err) => log.warn({ err, execId }, 'closing the exec stdin failed'));
          });
          stopStdin = () => copy.stop();
        },
        (err) => {
          if (!stdinAbort.signal.aborted)
            log.warn({ err, execId }, 'opening the exec stdin failed');
        },
      );
    }
    if (o.resize !== undefined) {
      void forwardResize(
        o.resize,
        (s) => p.resizePty(ctx, s.width, s.height),
        () => exited,
        log,
      );
    }

    const ended = await raceEnd(exit, o.timeoutMs ?? 0, ctx.signal, timers);
    if (ended.kind === 'exit') {
      await drain(output, o.drainTimeoutMs ?? 0, execId, p, ctx, timers);
      return ended.exit.status;
    }
    // Timed out or canceled: kill it, wait for it, take what it wrote.
    await p.kill(ctx, 9, false).catch((err) => {
      if (!isNotFound(err)) throw err;
    });
    await exit;
    // A child the exec left may hold its output: this wait is bounded even
    // when the drain timeout is not.
    const drainMs = o.drainTimeoutMs || KILLED_DRAIN_MS;
    await drain(output, drainMs, execId, p, ctx, timers).catch((err) =>
      log.warn({ err, execId }, 'draining the exec output failed'),
    );
    // containerd's texts: its error wraps the context's.
    if (ended.kind === 'canceled') throw canceled(`exec ${execId}: context canceled`);
    throw deadlineExceeded(
      `timeout ${formatGoDuration(o.timeoutMs ?? 0)} exceeded: context deadline exceeded`,
    );
  } finally {
    stdinAbort.abort();
    stopStdin();
    for (const s of stdinSockets) s.destroy();
    for (const t of timers) clearTimeout(t);
    if (proc !== undefined)
      await removeProcess(proc, started ? exit : undefined, () => exited, ctx, log);
    waitAbort.abort();
    if (fifos !== undefined) closeFifoSet(fifos);
    await removeFifoDir(dir);
  }
}

/** What ExecSync answers. */
export interface ExecSyncResult {
  exitCode: number;
  stdout: Buffer;
  stderr: Buffer;
}

/**
 * ExecSync: {@link runExec} with no stdin and no TTY, stdout and stderr
 * collected, each capped at {@link MAX_EXEC_SYNC_OUTPUT} (beyond it output is
 * read and dropped, as containerd's capped writer does).
 */
export async function execSync(
  task: Task,
  execId: string,
  process: object,
  o: Omit<ExecOptions, 'stdin' | 'stdout' | 'stderr' | 'tty' | 'resize'> & { maxOutput?: number },
): Promise<ExecSyncResult> {
  const cap = o.maxOutput ?? MAX_EXEC_SYNC_OUTPUT;
  const stdout = new CappedBuffer(cap);
  const stderr = new CappedBuffer(cap);
  const exitCode = await runExec(task, execId, process, { ...o, stdout, stderr, tty: false });
  return { exitCode, stdout: stdout.contents(), stderr: stderr.contents() };
}

/** A writable that keeps the first `cap` bytes written to it and drops the rest. */
export class CappedBuffer extends Writable {
  private readonly chunks: Buffer[] = [];
  private size = 0;

  constructor(private readonly cap: number) {
    super();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    const room = this.cap - this.size;
    if (room > 0) {
      const kept = chunk.length > room ? chunk.subarray(0, room) : chunk;
      this.chunks.push(kept);
      this.size += kept.length;
    }
    done();
  }

  contents(): Buffer {
    return Buffer.concat(this.chunks, this.size);
  }
}

/**
 * Copies an exec's output FIFO to the client's writable, pausing while the
 * client is behind; with no writable, or once it has closed, the output is
 * read and dropped so the exec never blocks on a full pipe. Resolves at the
 * end of the output (the shim closed its end, or the FIFO was closed here).
 */
function copyOutput(source: Socket, out: Writable | undefined): Promise<void> {
  return new Promise((resolve) => {
    source.on('data', (chunk: Buffer) => {
      if (out === undefined || out.destroyed || out.writableEnded) return;
      if (!out.write(chunk)) {
        source.pause();
        const resume = () => {
          out.off('drain', resume);
          out.off('close', resume);
          source.resume();
        };
        out.once('drain', resume);
        out.once('close', resume);
      }
    });
    source.once('end', () => resolve());
    source.once('close', () => resolve());
  });
}

type EndOfExec = { kind: 'exit'; exit: Exit } | { kind: 'timeout' } | { kind: 'canceled' };

async function raceEnd(
  exit: Promise<Exit>,
  timeoutMs: number,
  signal: AbortSignal,
  timers: NodeJS.Timeout[],
): Promise<EndOfExec> {
  const racers: Promise<EndOfExec>[] = [exit.then((e) => ({ kind: 'exit', exit: e }))];
  if (timeoutMs > 0) {
    racers.push(
      new Promise((resolve) =>
        timers.push(setTimeout(() => resolve({ kind: 'timeout' }), timeoutMs)),
      ),
    );
  }
  let onAbort = () => {};
  racers.push(
    new Promise((resolve) => {
      onAbort = () => resolve({ kind: 'canceled' });
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    }),
  );
  try {
    return await Promise.race(racers);
  } finally {
    // A request's signal outlives many execs: leave no listener on it.
    signal.removeEventListener('abort', onAbort);
  }
}

/**
 * Waits for the exec's output to end. Past `timeoutMs` (when > 0), the exec
 * process is deleted to release the output a child still holds, and the
 * wait fails as containerd's does.
 */
async function drain(
  output: Promise<void>,
  timeoutMs: number,
  execId: string,
  p: Process,
  ctx: OpContext,
  timers: NodeJS.Timeout[],
): Promise<void> {
  if (timeoutMs <= 0) return output;
  const timedOut = await Promise.race([
    output.then(() => false),
    new Promise<boolean>((resolve) => timers.push(setTimeout(() => resolve(true), timeoutMs))),
  ]);
  if (!timedOut) return;
  await p.delete(ctx).catch(() => undefined);
  throw internal(
    `failed to drain exec process "${execId}" io in ${formatGoDuration(timeoutMs)} because io is still held by other processes`,
  );
}

/** Deletes the exec process, killing it first if it still runs (containerd's WithProcessKill). */
async function removeProcess(
  p: Process,
  exit: Promise<Exit> | undefined,
  exited: () => boolean,
  ctx: OpContext,
  log: Logger,
): Promise<void> {
  try {
    // An exec never started is deleted as it is; a running one is killed first.
    if (exit !== undefined && !exited()) {
      await p.kill(ctx, 9, false).catch(() => {});
      {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          exit.catch(() => {}),
          new Promise((resolve) => {
            timer = setTimeout(resolve, KILL_WAIT_MS);
          }),
        ]);
        clearTimeout(timer);
      }
    }
    await p.delete(ctx);
  } catch (err) {
    if (!isNotFound(err)) log.warn({ err, execId: p.id }, 'deleting the exec process failed');
  }
}

async function forwardResize(
  sizes: AsyncIterable<{ width: number; height: number }>,
  resize: (s: { width: number; height: number }) => Promise<void>,
  done: () => boolean,
  log: Logger,
): Promise<void> {
  try {
    for await (const size of sizes) {
      if (done()) return;
      await resize(size).catch((err) => log.warn({ err }, 'resizing the exec terminal failed'));
    }
  } catch (err) {
    log.debug({ err }, 'resize events ended with an error');
  }
}
