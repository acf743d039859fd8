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
 * A process' stdio without copying (SHIM-PLAN decision 2). The shim hands
 * runc fds that runc hands to the container, and copies no bytes itself:
 *
 * - FIFO (a path, or `fifo://`): the shim opens the FIFO `O_RDWR|O_NONBLOCK`
 *   (never blocks; makes the FIFO always have both ends) and keeps that
 *   "holder" fd; the container gets a second, blocking open of it (`O_WRONLY`
 *   for stdout/stderr: never EPIPE while the holder lives; `O_RDONLY` for
 *   stdin). stdout/stderr holders close after the process exits, so the
 *   client sees EOF once the container's ends closed too; the stdin holder
 *   (a writer) closes on CloseIO or exit, so the container sees EOF once the
 *   client's writer is closed as well, as with the Go shim.
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

/** A process' stdio: {@link stdio} for runc, then {@link started}, then {@link close} at exit. */
export class ProcessIO {
  /** [stdin, stdout, stderr] for runc. */
  readonly stdio: StdioFd[] = ['ignore', 'ignore', 'ignore'];
  /** Fds only the container needs: closed once runc has passed them on. */
  private readonly childFds: number[] = [];
  private readonly holders: number[] = [];
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

  private async openOutput(path: string): Promise<number> {
    const holder = await openFd(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    this.holders.push(holder);
    const fd = await openFd(path, O_WRONLY | O_CLOEXEC);
    this.childFds.push(fd);
    return fd;
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

  /** runc has passed the fds on: the shim closes its copies of the container's ends. */
  started(): void {
    for (const fd of this.childFds.splice(0)) closeFd(fd);
  }

  /** CloseIO: the container sees EOF on stdin once the client's writer is closed too. */
  closeStdin(): void {
    if (this.stdinHolder !== undefined) closeFd(this.stdinHolder);
    this.stdinHolder = undefined;
  }

  /** The process exited: the client sees EOF once the container's ends are closed. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.started();
    this.closeStdin();
    for (const fd of this.holders.splice(0)) closeFd(fd);
  }
}
