import { mkdirSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import BetterSqlite3, { type Database, type Statement } from 'better-sqlite3';
import { internal } from '../core/errdefs/index.js';

/**
 * A schema migration, applied in its own transaction. The schema version is
 * SQLite's `user_version`. Lists of them are append-only: never edit one
 * that has shipped.
 */
export interface Migration {
  version: number;
  description: string;
  up(db: Database): void;
}

export interface SqliteDBOptions {
  /** Path of the database file; its directory is created (0700). */
  path: string;
  /** The schema, in version order. */
  migrations: readonly Migration[];
  /** What the file holds, for errors ("metadata schema"). */
  what: string;
}

/**
 * An SQLite database file as berth keeps them: WAL journal, full fsync on
 * commit (an answered request survives kill -9 and power loss), foreign
 * keys on, a 5 s busy timeout, schema migrated on open (`user_version`), a
 * cache of prepared statements, and write transactions that take the lock
 * at once (BEGIN IMMEDIATE).
 */
export class SqliteDB {
  readonly db: Database;
  readonly path: string;
  private readonly statements = new Map<string, Statement>();
  private readonly walSync = new WalSync(() => `${this.path}-wal`);

  constructor(opts: SqliteDBOptions) {
    this.path = opts.path;
    mkdirSync(dirname(opts.path), { recursive: true, mode: 0o700 });
    this.db = new BetterSqlite3(opts.path);
    try {
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = FULL');
      this.db.pragma('foreign_keys = ON');
      this.db.pragma('busy_timeout = 5000');
      migrate(this.db, opts.migrations, opts.what);
    } catch (err) {
      this.db.close();
      throw err;
    }
  }

  get schemaVersion(): number {
    return this.db.pragma('user_version', { simple: true }) as number;
  }

  /**
   * A prepared statement for `sql`, prepared once and reused: preparing
   * costs as much as running a small query.
   */
  prepare(sql: string): Statement {
    let st = this.statements.get(sql);
    if (st === undefined) {
      st = this.db.prepare(sql);
      this.statements.set(sql, st);
    }
    return st;
  }

  /** Runs `fn` in one write transaction (BEGIN IMMEDIATE); rolls back on throw. */
  update<T>(fn: (db: Database) => T): T {
    return this.db.transaction(fn).immediate(this.db);
  }

  /**
   * Like {@link SqliteDB.update}, but the commit is not fsynced (see
   * {@link withoutFsync}). Only for steps whose loss to a power cut is harmless.
   */
  updateUnsynced<T>(fn: (db: Database) => T): T {
    return withoutFsync(this.db, () => this.update(fn));
  }

  /**
   * Like {@link SqliteDB.update}, as durable once the promise resolves, but
   * the commit's fsync runs on libuv's thread pool ({@link WalSync}) instead
   * of blocking the event loop, shared with the commits made meanwhile. The
   * commit is visible (and survives kill -9) when `fn`'s transaction ends;
   * a power cut before the promise resolves may lose it, as with a request
   * that has not been answered.
   */
  async updateDurable<T>(fn: (db: Database) => T): Promise<T> {
    const r = this.updateUnsynced(fn);
    await this.syncWal();
    return r;
  }

  /** Makes every commit so far durable (fdatasync of the WAL, off the event loop). */
  syncWal(): Promise<void> {
    return this.walSync.sync();
  }

  /** Runs `fn` in one read transaction: a consistent snapshot. */
  view<T>(fn: (db: Database) => T): T {
    return this.db.transaction(fn).deferred(this.db);
  }

  /** Verifies the file's structure; returns SQLite's messages ("ok" when sound). */
  integrityCheck(): string[] {
    const rows = this.db.pragma('integrity_check') as { integrity_check: string }[];
    return rows.map((r) => r.integrity_check);
  }

  close(): void {
    this.walSync.close();
    if (!this.db.open) return;
    // Fold the WAL back into the main file so a clean stop leaves one file.
    this.db.pragma('wal_checkpoint(TRUNCATE)');
    this.db.close();
  }
}

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

/**
 * fdatasync of a WAL file on the thread pool. SQLite's `synchronous = FULL`
 * does the same fdatasync inside COMMIT, on the calling (event loop) thread:
 * 1–2 ms each on an idle disk, tens of ms on a busy one. A commit made with
 * `synchronous = NORMAL` has written its frames when it returns; once a
 * fdatasync of the WAL that began after that has ended, it is as durable as
 * a FULL one (SQLite still syncs the WAL before each checkpoint and the
 * database file after it, so unsynced frames are never checkpointed).
 *
 * Callers share syncs: while one runs, the callers that come meanwhile wait
 * for one more, which starts when it ends. The WAL file is opened once (it
 * lives as long as the connection: SQLite deletes it only when the last
 * connection closes); the first sync also syncs its directory, as SQLite
 * does for a WAL it has just created.
 */
class WalSync {
  private handle: FileHandle | undefined;
  private running: Promise<void> | undefined;
  private next: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly walPath: () => string) {}

  sync(): Promise<void> {
    if (this.next) return this.next;
    if (!this.running) return this.start();
    this.next = this.running
      .catch(() => {})
      .then(() => {
        this.next = undefined;
        return this.start();
      });
    return this.next;
  }

  private start(): Promise<void> {
    const run = this.fdatasync().finally(() => {
      if (this.running === run) this.running = undefined;
    });
    this.running = run;
    return run;
  }

  private async fdatasync(): Promise<void> {
    if (this.closed) throw internal('database is closed');
    if (this.handle === undefined) {
      const path = this.walPath();
      const handle = await open(path, 'r');
      const dir = await open(dirname(path), 'r');
      try {
        await dir.sync();
      } finally {
        await dir.close();
      }
      if (this.closed) {
        await handle.close();
        throw internal('database is closed');
      }
      this.handle = handle;
    }
    await this.handle.datasync();
  }

  close(): void {
    this.closed = true;
    const h = this.handle;
    this.handle = undefined;
    // After the running sync, if any: closing the fd under it would fail it.
    if (h) void (this.running ?? Promise.resolve()).catch(() => {}).finally(() => h.close());
  }
}

/** Applies the migrations newer than the file's `user_version`, one transaction each. */
function migrate(db: Database, migrations: readonly Migration[], what: string): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  const latest = migrations.at(-1)?.version ?? 0;
  if (current > latest) {
    throw internal(`${what} version ${current} is newer than this berthd supports (${latest})`);
  }
  for (const m of migrations) {
    if (m.version <= current) continue;
    db.transaction(() => {
      m.up(db);
      db.pragma(`user_version = ${m.version}`);
    }).immediate();
  }
}
