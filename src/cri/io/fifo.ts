import { constants, open } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { Socket } from 'node:net';
import { internal } from '../../core/errdefs/index.js';
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
 * container's output is seen.
 */
export function openFifoReader(path: string): Promise<Socket> {
  return openSocket(path, constants.O_RDONLY | constants.O_NONBLOCK, {
    readable: true,
    writable: false,
  });
}

/**
 * Opens the write side of the FIFO the shim reads (stdin) without blocking:
 * O_RDWR never waits for a reader, and what is written before the shim opens
 * its reader waits in the pipe. The shim holds a writer of its own, so
 * closing this one is not the process's EOF: that is the task's CloseIO.
 */
export function openFifoWriter(path: string): Promise<Socket> {
  return openSocket(path, constants.O_RDWR | constants.O_NONBLOCK, {
    readable: false,
    writable: true,
  });
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
