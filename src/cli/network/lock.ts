import { closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { deadlineExceeded } from '../../core/errdefs/index.js';
import { flock, isErrno, LOCK_EX, LOCK_NB } from '../../sys/linux.js';
import type { NetworkFlags } from './flags.js';

/** How long a network operation waits for another one to finish. */
export const NETWORK_LOCK_WAIT_MS = 120_000;
const POLL_MS = 20;

/** Calls in this process, one after another (flock alone would let two of them wait on each other's polls forever). */
let inProcess: Promise<unknown> = Promise.resolve();

/**
 * Runs `fn` holding berth's network lock (`<dataRoot>/cni/.lock`, flock):
 * one CNI setup or release at a time on the host, across `berth`
 * processes and hooks. CNI plugins are not safe to run concurrently (the
 * bridge and portmap plugins race creating shared links and chains; nerdctl
 * takes a global lock for the same reason). The lock goes with the process,
 * so a crashed holder never blocks the next one.
 */
export function withNetworkLock<T>(flags: NetworkFlags, fn: () => Promise<T>): Promise<T> {
  const next = inProcess.then(
    () => locked(flags, fn),
    () => locked(flags, fn),
  );
  inProcess = next.catch(() => {});
  return next;
}

async function locked<T>(flags: NetworkFlags, fn: () => Promise<T>): Promise<T> {
  const dir = join(flags.dataRoot, 'cni');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, '.lock');
  const fd = openSync(path, 'a', 0o600);
  try {
    const deadline = Date.now() + NETWORK_LOCK_WAIT_MS;
    for (;;) {
      try {
        flock(fd, LOCK_EX | LOCK_NB);
        break;
      } catch (e) {
        if (!isErrno(e, 'EWOULDBLOCK', 'EAGAIN')) throw e;
        if (Date.now() > deadline) {
          throw deadlineExceeded(
            `network lock ${path}: still held by another berth after ${NETWORK_LOCK_WAIT_MS} ms`,
          );
        }
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
    }
    return await fn();
  } finally {
    closeSync(fd);
  }
}
