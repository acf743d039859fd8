import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';

/** A client's stdin being copied into a process's stdin FIFO. */
export interface StdinCopy {
  stop(): void;
}

/**
 * Copies a client's stdin into a process's stdin FIFO without ending
 * it (several clients may take turns), pausing the client while the pipe is
 * full. `ended` is called once when the client's stdin ends or fails.
 */
export function copyStdin(src: Readable, dst: Socket, ended: () => void): StdinCopy {
  let stopped = false;
  const onData = (chunk: Buffer) => {
    if (dst.destroyed) return;
    if (!dst.write(chunk)) {
      src.pause();
      dst.once('drain', () => {
        if (!stopped) src.resume();
      });
    }
  };
  const onEnd = () => {
    if (stopped) return;
    stop();
    ended();
  };
  const stop = () => {
    stopped = true;
    src.off('data', onData);
    src.off('end', onEnd);
    src.off('close', onEnd);
    src.off('error', onEnd);
    src.pause();
  };
  src.on('data', onData);
  src.once('end', onEnd);
  src.once('close', onEnd);
  src.once('error', onEnd);
  return { stop };
}

/** Ends `socket` after what it holds is written, or destroys it after `timeoutMs`. */
export function endSocket(socket: Socket, timeoutMs: number): Promise<void> {
  if (socket.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.end();
  });
}
