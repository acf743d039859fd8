import type { Database } from 'better-sqlite3';

/**
 * Runs `commit` (a write transaction) with SQLite's `synchronous = NORMAL`,
 * then goes back to `FULL`, even when it throws. In WAL mode such a commit
 * is not fsynced: it survives kill -9 (its frames are written before this
 * returns), and a power cut only once a later synced commit has synced the
 * whole WAL. Only for steps whose loss to a power cut is harmless.
 */
export function withoutFsync<T>(db: Database, commit: () => T): T {
  db.pragma('synchronous = NORMAL');
  try {
    return commit();
  } finally {
    db.pragma('synchronous = FULL');
  }
}
