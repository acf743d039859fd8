import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, constants, mkdirSync, open, openSync, rmSync } from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { internal } from '../../core/errdefs/index.js';

/**
 * Where the client makes its FIFO directories by default: a per-user
 * directory under the system temp dir (`$TMPDIR/berth-fifo-<uid>`), since
 * only this client and the shim (root, in the host's mount namespace) open
 * them. containerd's cio uses `/run/containerd/fifo`; creators take
 * `fifoDir` to choose another.
 */
export function defaultFifoDir(): string {
  return join(tmpdir(), `berth-fifo-${process.getuid?.() ?? 0}`);
}

/** A process's FIFO set: a directory of its own holding `<id>-stdin|stdout|stderr`. */
export interface FifoSet {
  dir: string;
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
}

/**
 * Makes the FIFOs of one process, as containerd's `cio.NewFIFOSetInDir`:
 * a fresh directory (0700) under `root` with one FIFO (0600) per stream
 * asked for. Node cannot mkfifo, and the client imports nothing native, so
 * coreutils' `mkfifo` makes them.
 */
export async function newFifoSet(
  root: string,
  id: string,
  want: { stdin: boolean; stdout: boolean; stderr: boolean; terminal: boolean },
): Promise<FifoSet> {
  mkdirSync(root, { recursive: true, mode: 0o700 });
  const dir = join(root, `${id}-${randomBytes(6).toString('hex')}`);
  mkdirSync(dir, { mode: 0o700 });
  const set: FifoSet = {
    dir,
    stdin: want.stdin ? join(dir, `${id}-stdin`) : '',
    stdout: want.stdout ? join(dir, `${id}-stdout`) : '',
    stderr: want.stderr && !want.terminal ? join(dir, `${id}-stderr`) : '',
    terminal: want.terminal,
  };
  const paths = [set.stdin, set.stdout, set.stderr].filter((p) => p !== '');
  if (paths.length > 0) {
    try {
      await new Promise<void>((resolve, reject) =>
        execFile('mkfifo', ['-m', '0600', '--', ...paths], (err, _out, stderr) =>
          err ? reject(internal(`mkfifo in ${dir}: ${stderr.trim() || err.message}`)) : resolve(),
        ),
      );
    } catch (err) {
      removeFifoSet(set);
      throw err;
    }
  }
  return set;
}

/** Removes the set's directory and FIFOs (containerd's `FIFOSet.Close`). */
export function removeFifoSet(set: Pick<FifoSet, 'dir'>): void {
  rmSync(set.dir, { recursive: true, force: true });
}

/**
 * One end of a FIFO, opened blocking in libuv's thread pool: the open
 * completes when the shim opens the other end (during Create). `cancel`
 * completes an open still waiting by opening the other end once, and
 * keeps at it until the open has returned (the pool may not have started
 * it yet, and a non-blocking open only meets an open already waiting).
 */
abstract class FifoEnd {
  readonly opened: Promise<Socket | undefined>;
  private canceled = false;
  private settled = false;

  constructor(
    protected readonly path: string,
    flags: number,
    private readonly otherEnd: number,
    socketOpts: { readable: boolean; writable: boolean },
    /**
     * Keep an end whose open returns after `cancel`: a reader's open may
     * have met the shim's writer, which then holds output of a process
     * that has already exited (its exit can be seen before the open's
     * callback runs); if it met only the poke, it reads EOF at once.
     */
    keepWhenCanceled = false,
  ) {
    this.opened = new Promise((resolve, reject) => {
      open(path, flags, (err, fd) => {
        this.settled = true;
        if (err) {
          reject(internal(`open ${path}: ${err.message}`, { cause: err }));
          return;
        }
        if (this.canceled && !keepWhenCanceled) {
          closeSync(fd);
          resolve(undefined);
          return;
        }
        resolve(new Socket({ fd, ...socketOpts }));
      });
    });
  }

  cancel(): void {
    if (this.canceled) return;
    this.canceled = true;
    this.poke();
  }

  private poke(): void {
    if (this.settled) return;
    try {
      closeSync(openSync(this.path, this.otherEnd | constants.O_NONBLOCK));
    } catch {
      // ENXIO: no reader waits yet; ENOENT: removed (the open then fails).
    }
    setTimeout(() => this.poke(), 10).unref();
  }
}

/**
 * The write side of a FIFO the shim reads (stdin): nothing written can be
 * lost in a pipe nobody holds yet. Ending the socket closes this writer.
 */
export class FifoWriter extends FifoEnd {
  constructor(path: string) {
    super(path, constants.O_WRONLY, constants.O_RDONLY, { readable: false, writable: true });
  }
}

/**
 * The read side of a FIFO the shim writes (stdout, stderr). EOF comes when
 * the shim closes its ends.
 */
export class FifoReader extends FifoEnd {
  constructor(path: string) {
    super(path, constants.O_RDONLY, constants.O_WRONLY, { readable: true, writable: false }, true);
  }
}
