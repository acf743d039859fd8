/**
 * In-process ref locks: one writer per ingest at a time, as containerd's
 * package-level lock map. Keys include the store root, so two store instances
 * on the same root (a reopened store in the same process) share them, and
 * stores on different roots do not interfere.
 *
 * A writer that finds its ref held waits a moment for it, as containerd's
 * local store retries the lock for up to about a second: a client closes a
 * Write stream by half-closing it (Go's remote writer `Close` is
 * `CloseSend`) and may open the same ref again before the server has seen
 * the end of the first stream and closed its writer. A released lock goes
 * straight to the oldest waiter.
 */
interface Waiter {
  grant(): void;
}

const held = new Map<string, Waiter[]>();

/** How long `lock` waits for a held ref by default (ms). */
export const LOCK_WAIT_MS = 500;

function key(root: string, ref: string): string {
  return `${root}\0${ref}`;
}

/** Takes the lock; false if it is already held. */
export function tryLock(root: string, ref: string): boolean {
  const k = key(root, ref);
  if (held.has(k)) {
    return false;
  }
  held.set(k, []);
  return true;
}

/** Takes the lock, waiting up to `waitMs` for its holder to release it; false if it does not. */
export function lock(root: string, ref: string, waitMs = LOCK_WAIT_MS): Promise<boolean> {
  if (tryLock(root, ref)) return Promise.resolve(true);
  const waiters = held.get(key(root, ref)) as Waiter[];
  return new Promise((resolve) => {
    const waiter: Waiter = {
      grant: () => {
        clearTimeout(timer);
        resolve(true);
      },
    };
    const timer = setTimeout(() => {
      const i = waiters.indexOf(waiter);
      if (i >= 0) waiters.splice(i, 1);
      resolve(false);
    }, waitMs);
    waiters.push(waiter);
  });
}

/** Releases the lock: the oldest waiter takes it over, or it is free. */
export function unlock(root: string, ref: string): void {
  const k = key(root, ref);
  const next = held.get(k)?.shift();
  if (next === undefined) {
    held.delete(k);
    return;
  }
  next.grant();
}
