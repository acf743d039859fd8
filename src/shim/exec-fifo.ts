import { close, constants, open } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { Socket } from 'node:net';
import { unknown } from '../core/errdefs/index.js';
import type { SpawnFn } from './runc.js';

/**
 * `runc start` without runc, for the runc versions whose start is known to
 * be nothing more (runc 1.1.x, Debian 12's 1.1.5): libcontainer's
 * linuxContainer.exec() opens `<runc root>/<id>/exec.fifo` for reading,
 * which lets the container's init (blocked in its open of the FIFO for
 * writing) write one byte and exec the user's process; reads to EOF (the
 * exec closes the init's end); needs at least one byte ("container process
 * is already dead" otherwise) and removes the FIFO, which makes runc report
 * the container `running` from then on. runc 1.1 runs the poststart hooks at
 * create, not at start (container_linux.go, start()). Its start also checks
 * that the container is `created` and handles NOTIFY_SOCKET; the shim calls
 * this only for an init it created and never started, with no NOTIFY_SOCKET,
 * with the default runc binary of a version it knows ({@link knownRuncVersion}),
 * and falls back to `runc start` if the FIFO is not there.
 *
 * Nothing blocks the loop: the FIFO is opened O_NONBLOCK (Linux reports no
 * hangup on it before a writer came), and an init that dies without opening
 * it cannot hang the start: at its exit the shim opens the FIFO for writing
 * itself, which ends the read with no byte.
 */

export const EXEC_FIFO = 'exec.fifo';

/** Versions of runc whose `start` of a created container is what {@link startByExecFifo} does. */
const KNOWN_VERSION = /^runc version 1\.1\.\d+(\+\S*)?$/m;

/** Per runc command: undefined while `runc --version` runs, then whether its version is known. */
const versions = new Map<string, boolean | undefined>();

/**
 * Starts `runc --version` of `command` once per daemon (the first Create
 * calls this, so the answer is there by its Start) and answers whether the
 * version is known: false until the probe has answered, so no caller waits.
 */
export function knownRuncVersion(command: string, spawn: SpawnFn): boolean {
  if (versions.has(command)) return versions.get(command) === true;
  versions.set(command, undefined);
  const settle = (known: boolean) => versions.set(command, known);
  try {
    const child = spawn(command, ['--version'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (d: string) => {
      out += d;
    });
    child.on('error', () => settle(false));
    child.on('close', (code) => settle(code === 0 && KNOWN_VERSION.test(out)));
  } catch {
    settle(false);
  }
  return false;
}

/**
 * Starts a created container as runc 1.1's start does (above). Answers false
 * (nothing done) when there is no exec FIFO: the caller runs `runc start`,
 * which words the refusal. `initGone` settles when the init has exited.
 */
export async function startByExecFifo(fifo: string, initGone: Promise<unknown>): Promise<boolean> {
  let fd: number;
  try {
    fd = await openFd(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw unknown(`exec fifo: ${(err as Error).message}`, { cause: err });
  }
  const sock = new Socket({ fd, readable: true, writable: false });
  let bytes = 0;
  let ended = false;
  const read = new Promise<void>((resolve, reject) => {
    sock.on('data', (b: Buffer) => {
      bytes += b.length;
    });
    sock.once('end', () => {
      ended = true;
      resolve();
    });
    sock.once('error', reject);
  });
  // A dead init never writes: a writer of our own (and its close) ends the read.
  void initGone.then(async () => {
    if (ended) return;
    try {
      const w = await openFd(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
      close(w, () => {});
    } catch {
      // ENXIO: our reader is gone already (the read ended)
    }
  });
  try {
    await read;
  } catch (err) {
    throw unknown(`exec fifo: ${(err as Error).message}`, { cause: err });
  } finally {
    sock.destroy();
  }
  if (bytes === 0) throw unknown('container process is already dead');
  await unlink(fifo);
  return true;
}

/** open(2) off the loop (libuv adds O_CLOEXEC). */
function openFd(path: string, flags: number): Promise<number> {
  return new Promise((resolve, reject) => {
    open(path, flags, (err, fd) => (err ? reject(err) : resolve(fd)));
  });
}
