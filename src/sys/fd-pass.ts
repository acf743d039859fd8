/**
 * @module fd-pass
 * Passing fds over unix sockets (SCM_RIGHTS), as runc's `--console-socket`
 * sends a pty master: one message whose payload is the file's name.
 *
 * The socket must be one Node does not read from (a server's connection with
 * `pauseOnConnect`): a read by Node would take the payload and drop the fd.
 * Its fd is non-blocking, so receiving polls with MSG_DONTWAIT and short
 * timers, never blocking the event loop.
 */
import type { Socket } from 'node:net';
import { deadlineExceeded, failedPrecondition, invalidArgument } from '../core/errdefs/index.js';
import { close, isErrno, recvmsgFds, sendmsgFds } from './linux.js';

/** A received fd (close-on-exec) and the payload that came with it (runc: the file's name). */
export interface ReceivedFile {
  fd: number;
  name: string;
}

/** The fd under a Node socket (a unix socket's handle). */
function socketFd(socket: Socket): number {
  const fd = (socket as unknown as { _handle?: { fd?: number } | null })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) {
    throw invalidArgument('fd passing: the socket has no open fd (closed, or not a unix socket)');
  }
  return fd;
}

/** Receives one fd sent with SCM_RIGHTS on `socket`, waiting at most `timeoutMs`. */
export async function receiveFd(socket: Socket, timeoutMs: number): Promise<number> {
  return (await receiveFile(socket, timeoutMs)).fd;
}

/** Like {@link receiveFd}, with the message's payload. Extra fds in the message are closed. */
export async function receiveFile(socket: Socket, timeoutMs: number): Promise<ReceivedFile> {
  const deadline = Date.now() + timeoutMs;
  let delay = 1;
  for (;;) {
    let msg: ReturnType<typeof recvmsgFds> | undefined;
    try {
      msg = recvmsgFds(socketFd(socket));
    } catch (err) {
      if (!isErrno(err, 'EAGAIN', 'EWOULDBLOCK')) throw err;
    }
    if (msg) {
      const [fd, ...extra] = msg.fds;
      for (const e of extra) close(e);
      if (fd === undefined) {
        throw failedPrecondition(
          msg.data.length === 0
            ? 'fd passing: the peer closed the connection without sending an fd'
            : `fd passing: a message without an fd${msg.truncated ? ' (control data truncated)' : ''}`,
        );
      }
      return { fd, name: msg.data.toString('utf8').replace(/\0+$/, '') };
    }
    const left = deadline - Date.now();
    if (left <= 0) throw deadlineExceeded(`fd passing: no fd received within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, Math.min(delay, left)));
    delay = Math.min(delay * 2, 50);
  }
}

/**
 * Sends `fd` with SCM_RIGHTS and `name` as the payload on `socket`, as runc
 * does. Synchronous and non-blocking: a small message on a fresh socket fits
 * its buffer (EAGAIN is thrown otherwise).
 */
export function sendFd(socket: Socket, fd: number, name: string): void {
  sendmsgFds(socketFd(socket), Buffer.from(name, 'utf8'), [fd]);
}
