import type { ChildProcess } from 'node:child_process';
import { close as fsClose, mkdir, open } from 'node:fs';
import { Socket } from 'node:net';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import { invalidArgument } from '../core/errdefs/index.js';
import type { Logger } from '../core/log/index.js';
import {
  O_APPEND,
  O_CLOEXEC,
  O_CREAT,
  O_NONBLOCK,
  O_RDONLY,
  O_RDWR,
  O_WRONLY,
  pipe2,
} from '../sys/linux.js';
import type { ReaperLike } from './deps.js';
import type { StdioFd } from './runc.js';

/**
 * A process' stdio. The shim hands runc fds
 * that runc hands to the container:
 *
 * - stdout/stderr FIFO (a path, or `fifo://`): a pipe whose write end the
 *   container gets; the shim copies its read end into the FIFO, opened
 *   `O_RDWR|O_NONBLOCK` (never blocks, never EPIPE while the client is away)
 *   — but only once runc has succeeded, as the Go shim does: runc writes its
 *   own error text to its stderr, which is the container's, and a failed
 *   create or exec must not print it into the client's stream besides
 *   returning it. The copy is a Node stream pipe with backpressure: a
 *   container whose output nobody reads blocks on its full pipe, and no other
 *   process of the group waits for it. The FIFO closes when the pipe reaches
 *   EOF (every writer in the container gone), so the client sees EOF then.
 * - stdin FIFO: passed through, never written to by runc: the shim keeps an
 *   `O_RDWR|O_NONBLOCK` "holder" (a writer) and the container gets a blocking
 *   `O_RDONLY` open; the holder closes on CloseIO or exit, so the container
 *   sees EOF once the client's writer is closed as well, as with the Go shim.
 * - `file:///path`: the file opened `O_WRONLY|O_APPEND|O_CREAT` (parent made),
 *   as stdout and stderr; stdin unused.
 * - `binary:///path?k=v`: pipes; the logger runs as containerd runs it (fd 3
 *   stdout's read end, fd 4 stderr's, fd 5 a "ready" pipe it closes or writes
 *   to; env CONTAINER_ID, CONTAINER_NAMESPACE; args `k v` from the query).
 * - '' → /dev/null.
 */

const openFd = promisify(open) as (path: string, flags: number, mode?: number) => Promise<number>;
const mkdirp = promisify(mkdir);

function closeFd(fd: number): void {
  fsClose(fd, () => {});
}

export interface StdioPaths {
  stdin: string;
  stdout: string;
  stderr: string;
}

export type IOKind =
  | { kind: 'null' }
  | { kind: 'fifo'; path: string }
  | { kind: 'file'; path: string }
  | { kind: 'binary'; path: string; args: string[] };

/** What an stdout URI names (containerd's process/io.go). */
export function parseIOUri(uri: string): IOKind {
  if (uri === '') return { kind: 'null' };
  if (!/^[a-z][a-z0-9+.-]*:/i.test(uri)) return { kind: 'fifo', path: uri };
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    throw invalidArgument(`stdio ${JSON.stringify(uri)}: not a valid URI`);
  }
  const path = decodeURIComponent(u.pathname);
  switch (u.protocol) {
    case 'fifo:':
      return { kind: 'fifo', path };
    case 'file:':
      return { kind: 'file', path };
    case 'binary:': {
      const args: string[] = [];
      const seen = new Set<string>();
      for (const [k, v] of u.searchParams) {
        if (seen.has(k)) continue;
        seen.add(k);
        args.push(k);
        if (v !== '') args.push(v);
      }
      return { kind: 'binary', path, args };
    }
    default:
      throw invalidArgument(`stdio ${JSON.stringify(uri)}: unsupported scheme ${u.protocol}`);
  }
}

export interface IOContext {
  id: string;
  namespace: string;
  reaper: ReaperLike;
  log: Logger;
}

/** One output pipe's copy into its FIFO, started once runc succeeded. */
interface OutputCopy {
  readonly from: Socket;
  readonly to: Socket;
  /** Settles when the copy ended (EOF, an error or destroy). */
  readonly done: Promise<void>;
  started: boolean;
}

/**
 * A process' stdio: {@link stdio} for runc, then {@link started} (runc
 * succeeded) or {@link close} (it failed), {@link close} at exit (outputs
 * drain on), {@link drain} and {@link close} again at delete.
 */
export class ProcessIO {
  /** [stdin, stdout, stderr] for runc. */
  readonly stdio: StdioFd[] = ['ignore', 'ignore', 'ignore'];
  /** Fds only the container needs: closed once runc has passed them on. */
  private readonly childFds: number[] = [];
  private readonly copies: OutputCopy[] = [];
  private stdinHolder: number | undefined;
  private closed = false;

  static async open(paths: StdioPaths, ctx: IOContext): Promise<ProcessIO> {
    const io = new ProcessIO();
    try {
      await io.setup(paths, ctx);
    } catch (err) {
      io.started();
      io.close();
      throw err;
    }
    return io;
  }

  private async setup(paths: StdioPaths, ctx: IOContext): Promise<void> {
    const out = parseIOUri(paths.stdout);
    if (out.kind === 'file') {
      await mkdirp(dirname(out.path), { recursive: true });
      const fd = await openFd(out.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640);
      this.childFds.push(fd);
      this.stdio[1] = fd;
      this.stdio[2] = fd;
      return;
    }
    if (out.kind === 'binary') {
      await this.startLogger(out, ctx);
      return;
    }
    if (paths.stdin !== '') {
      const holder = await openFd(paths.stdin, O_RDWR | O_NONBLOCK | O_CLOEXEC);
      this.stdinHolder = holder;
      const fd = await openFd(paths.stdin, O_RDONLY | O_CLOEXEC);
      this.childFds.push(fd);
      this.stdio[0] = fd;
    }
    if (out.kind === 'fifo') this.stdio[1] = await this.openOutput(out.path);
    const err = parseIOUri(paths.stderr);
    if (err.kind === 'fifo') {
      this.stdio[2] =
        paths.stderr === paths.stdout
          ? (this.stdio[1] as StdioFd)
          : await this.openOutput(err.path);
    } else if (err.kind === 'file') {
      const fd = await openFd(err.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640);
      this.childFds.push(fd);
      this.stdio[2] = fd;
    }
  }

  /** A pipe for the container whose read end is copied into the FIFO at `path` once started. */
  private async openOutput(path: string): Promise<number> {
    const fifo = await openFd(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    let r: number;
    let w: number;
    try {
      [r, w] = pipe2(O_CLOEXEC);
    } catch (err) {
      closeFd(fifo);
      throw err;
    }
    this.childFds.push(w);
    const from = new Socket({ fd: r, readable: true, writable: false });
    const to = new Socket({ fd: fifo, readable: false, writable: true });
    from.pause();
    const done = new Promise<void>((resolve) => {
      let ends = 0;
      const settle = (): void => {
        if (++ends === 2) resolve();
      };
      from.once('close', settle);
      to.once('close', settle);
    });
    // A reader gone away (EPIPE cannot happen: the shim's fd reads too) or a destroy ends both.
    from.on('error', () => to.destroy());
    to.on('error', () => from.destroy());
    this.copies.push({ from, to, done, started: false });
    return w;
  }

  private async startLogger(b: { path: string; args: string[] }, ctx: IOContext): Promise<void> {
    const [outR, outW] = pipe2(O_CLOEXEC);
    const [errR, errW] = pipe2(O_CLOEXEC);
    const [readyR, readyW] = pipe2(O_CLOEXEC);
    this.stdio[1] = outW;
    this.stdio[2] = errW;
    this.childFds.push(outW, errW);
    const ours = [outR, errR, readyW];
    let child: ChildProcess;
    try {
      child = ctx.reaper.spawn(b.path, b.args, {
        stdio: ['ignore', 'ignore', 'ignore', outR, errR, readyW],
        env: { CONTAINER_ID: ctx.id, CONTAINER_NAMESPACE: ctx.namespace },
        cwd: '/',
      });
    } catch (err) {
      for (const fd of [...ours, readyR]) closeFd(fd);
      throw err;
    }
    for (const fd of ours) closeFd(fd);
    const failed = new Promise<never>((_, reject) => {
      child.once('error', (err) =>
        reject(invalidArgument(`logging binary ${b.path}: ${err.message}`)),
      );
    });
    const ready = new Promise<void>((resolve) => {
      const s = new Socket({ fd: readyR, readable: true, writable: false });
      const done = (): void => {
        s.destroy();
        resolve();
      };
      s.once('data', done);
      s.once('end', done);
      s.once('error', done);
    });
    await Promise.race([ready, failed]);
  }

  /** runc succeeded: the shim closes its copies of the container's ends and starts copying outputs. */
  started(): void {
    this.closeChildFds();
    if (this.closed) return;
    for (const c of this.copies) {
      if (c.started) continue;
      c.started = true;
      c.from.pipe(c.to);
    }
  }

  private closeChildFds(): void {
    for (const fd of this.childFds.splice(0)) closeFd(fd);
  }

  /** CloseIO: the container sees EOF on stdin once the client's writer is closed too. */
  closeStdin(): void {
    if (this.stdinHolder !== undefined) closeFd(this.stdinHolder);
    this.stdinHolder = undefined;
  }

  /**
   * The process exited (or runc failed): stdin's holder closes; output
   * copies drain on to EOF (the client sees EOF once every writer in the
   * container is gone); copies never started (runc failed: the pipe holds
   * runc's own error text) are dropped. Called again (at delete), it ends
   * every copy still running.
   */
  close(): void {
    this.closeChildFds();
    this.closeStdin();
    const again = this.closed;
    this.closed = true;
    for (const c of this.copies) {
      if (again || !c.started) {
        c.from.destroy();
        c.to.destroy();
      }
    }
  }

  /** Resolves when every output copy ended, or after `timeoutMs` (a daemonized child may hold a pipe). */
  async drain(timeoutMs: number): Promise<void> {
    if (this.copies.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    });
    await Promise.race([Promise.all(this.copies.map((c) => c.done)), timeout]);
    clearTimeout(timer);
  }
}
