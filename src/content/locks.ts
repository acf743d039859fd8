/**
 * In-process ref locks: one writer per ingest at a time, as containerd's
 * package-level lock map. Keys include the store root, so two store instances
 * on the same root (a reopened store in the same process) share them, and
 * stores on different roots do not interfere.
 */
const held = new Map<string, bigint>();

function key(root: string, ref: string): string {
  return `${root}\0${ref}`;
}

/** Takes the lock; false if it is already held. */
export function tryLock(root: string, ref: string): boolean {
  const k = key(root, ref);
  if (held.has(k)) {
    return false;
  }
  held.set(k, process.hrtime.bigint());
  return true;
}

export function unlock(root: string, ref: string): void {
  held.delete(key(root, ref));
}
