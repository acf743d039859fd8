import { mkdirSync } from 'node:fs';
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
