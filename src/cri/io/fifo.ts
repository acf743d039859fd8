import { constants, open } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { canceled, internal, unavailable } from '../../core/errdefs/index.js';
import { AT_FDCWD, isErrno, mknodat, S_IFIFO, S_IFMT } from '../../sys/linux.js';

/**
 * Makes a FIFO (0600, berthd's own) at `path`, or keeps the one there: a
 * container recovered after a restart finds its FIFOs where it left them.
 * Anything else at `path` is an error. mknod on a local directory does not
 * wait on anything, so it runs on the loop.
 */
export async function mkfifo(path: string): Promise<void> {
  try {
    mknodat(AT_FDCWD, path, S_IFIFO | 0o600);
  } catch (err) {
    if (!isErrno(err, 'EEXIST')) throw internal(`mkfifo ${path}: ${(err as Error).message}`);
    const st = await lstat(path);
    if ((st.mode & S_IFMT) !== S_IFIFO) throw internal(`mkfifo ${path}: exists and is not a FIFO`);
  }
}

/**
 * Opens the read side of a FIFO the shim writes (stdout, stderr) without
 * ever blocking: O_RDONLY|O_NONBLOCK succeeds with no writer, so no libuv
 * pool thread waits on the shim. Reading still ends at the right time:
 * Linux holds back EOF (POLLHUP) on a FIFO opened this way until a writer
 * has come and gone, and a reader that opens while the shim holds its writer
 * (recovery after a restart) sees EOF when the shim closes it. Unlike an
 * O_RDWR open, berthd holds no writer of its own, so the end of the
 * container's output is seen. The shim holds a reader of its own too, so
 * what the container writes while berthd's end is closed waits in the pipe.
 */
export function openFifoReader(path: string): Promise<Socket> {
  return openSocket(path, constants.O_RDONLY | constants.O_NONBLOCK, {
    readable: true,
    writable: false,
  });
}

/** How often the write side of stdin retries while the shim has no reader yet. */
const WRITER_RETRY_MS = 10;

/**
 * Opens the write side of the FIFO the shim reads (stdin) once the shim has
 * its reader open, without blocking: O_WRONLY|O_NONBLOCK fails (ENXIO) while
 * there is no reader, and is tried again every 10 ms until `timeoutMs` or
 * `signal` ends the wait (`unavailable`, `canceled`). Waiting for the
 * shim's reader is what keeps input safe: a pipe nobody else holds drops
 * what was written to it when its last end closes, so berthd never writes
 * into one it alone holds. The shim holds a writer of its own, so closing
 * this one is not the process's EOF: that is the task's CloseIO.
 */
export async function openFifoWriter(
  path: string,
  opts: { timeoutMs: number; signal?: AbortSignal },
): Promise<Socket> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    if (opts.signal?.aborted) throw canceled(`open FIFO ${path} for writing: canceled`);
    try {
      return await openSocket(path, constants.O_WRONLY | constants.O_NONBLOCK, {
        readable: false,
        writable: true,
      });
    } catch (err) {
      if ((err as { cause?: NodeJS.ErrnoException }).cause?.code !== 'ENXIO') throw err;
    }
    if (Date.now() >= deadline) {
      throw unavailable(`open FIFO ${path} for writing: no reader after ${opts.timeoutMs} ms`);
    }
    await sleep(WRITER_RETRY_MS);
  }
}

function openSocket(
  path: string,
  flags: number,
  mode: { readable: boolean; writable: boolean },
): Promise<Socket> {
  return new Promise((resolve, reject) => {
    // libuv opens with O_CLOEXEC: no shim or runc started later inherits the fd.
    open(path, flags, (err, fd) => {
      if (err) return reject(internal(`open FIFO ${path}: ${err.message}`, { cause: err }));
      const socket = new Socket({ fd, ...mode });
      // Copying stops on errors the owner handles through 'close'; an
      // unhandled 'error' must not take berthd down.
      socket.on('error', () => {});
      resolve(socket);
    });
  });
}
