import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { tempDir } from '../../test/helpers/tmp.js';
import { type Migration, SqliteDB, withoutFsync } from './sqlite.js';

describe('withoutFsync', () => {
  it('commits with synchronous=NORMAL and goes back to FULL, even on throw', () => {
    const dir = tempDir();
    const db = new BetterSqlite3(join(dir.path, 'x.db'));
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.exec('CREATE TABLE t (v INTEGER)');
      const sync = () => db.pragma('synchronous', { simple: true });
      const insert = db.transaction((v: number) => {
        db.prepare('INSERT INTO t VALUES (?)').run(v);
        return sync();
      });
      assert.equal(
        withoutFsync(db, () => insert.immediate(1)),
        1,
      );
      assert.equal(sync(), 2);
      assert.throws(
        () =>
          withoutFsync(db, () => {
            throw new Error('boom');
          }),
        /boom/,
      );
      assert.equal(sync(), 2);
      assert.deepEqual(db.prepare('SELECT v FROM t').pluck().all(), [1]);
    } finally {
      db.close();
      dir.remove();
    }
  });
});

describe('SqliteDB', () => {
  const migrations: Migration[] = [
    { version: 1, description: 't', up: (db) => db.exec('CREATE TABLE t (v INTEGER)') },
    { version: 2, description: 'u', up: (db) => db.exec('CREATE TABLE u (v INTEGER)') },
  ];

  it('opens with WAL, full fsync and foreign keys, and migrates to the last version', () => {
    const dir = tempDir();
    try {
      const path = join(dir.path, 'sub', 'x.db');
      const first = new SqliteDB({ path, migrations: migrations.slice(0, 1), what: 'test schema' });
      assert.equal(first.schemaVersion, 1);
      first.update(() => first.prepare('INSERT INTO t VALUES (?)').run(7));
      first.close();

      const db = new SqliteDB({ path, migrations, what: 'test schema' });
      try {
        assert.equal(db.db.pragma('journal_mode', { simple: true }), 'wal');
        assert.equal(db.db.pragma('synchronous', { simple: true }), 2);
        assert.equal(db.db.pragma('foreign_keys', { simple: true }), 1);
        assert.equal(db.schemaVersion, 2);
        assert.deepEqual(
          db.view(() => db.prepare('SELECT v FROM t').pluck().all()),
          [7],
        );
        assert.equal(db.prepare('SELECT v FROM u'), db.prepare('SELECT v FROM u'), 'cached');
        assert.deepEqual(db.integrityCheck(), ['ok']);
      } finally {
        db.close();
      }
    } finally {
      dir.remove();
    }
  });

  it('rolls a throwing update back, and takes the write lock when it begins', () => {
    const dir = tempDir();
    const path = join(dir.path, 'x.db');
    const db = new SqliteDB({ path, migrations, what: 'test schema' });
    const other = new BetterSqlite3(path, { timeout: 0 });
    try {
      assert.throws(
        () =>
          db.update(() => {
            db.prepare('INSERT INTO t VALUES (1)').run();
            throw new Error('boom');
          }),
        /boom/,
      );
      assert.deepEqual(db.prepare('SELECT v FROM t').pluck().all(), []);
      // BEGIN IMMEDIATE: another connection cannot write while the update runs,
      // even before the update has written anything.
      db.update(() => {
        assert.throws(() => other.prepare('INSERT INTO u VALUES (1)').run(), /locked|busy/i);
      });
    } finally {
      other.close();
      db.close();
      dir.remove();
    }
  });

  it('refuses a file whose schema is newer than it knows, naming what it holds', () => {
    const dir = tempDir();
    const path = join(dir.path, 'x.db');
    try {
      new SqliteDB({ path, migrations, what: 'test schema' }).close();
      assert.throws(
        () => new SqliteDB({ path, migrations: migrations.slice(0, 1), what: 'test schema' }),
        /test schema version 2 is newer than this berthd supports \(1\)/,
      );
    } finally {
      dir.remove();
    }
  });
});

describe('SqliteDB.updateDurable', () => {
  const migrations: Migration[] = [
    { version: 1, description: 't', up: (db) => db.exec('CREATE TABLE t (v INTEGER)') },
  ];

  it('commits at once, resolves after a WAL sync that concurrent commits share, stays FULL', async () => {
    const dir = tempDir();
    const path = join(dir.path, 'x.db');
    const db = new SqliteDB({ path, migrations, what: 'test schema' });
    try {
      const done = [1, 2, 3].map((v) =>
        db.updateDurable(() => db.prepare('INSERT INTO t VALUES (?)').run(v).changes),
      );
      // Visible before the sync ends, to this connection and another one.
      const other = new BetterSqlite3(path, { readonly: true });
      try {
        assert.deepEqual(other.prepare('SELECT v FROM t ORDER BY v').pluck().all(), [1, 2, 3]);
      } finally {
        other.close();
      }
      assert.deepEqual(await Promise.all(done), [1, 1, 1]);
      assert.equal(db.db.pragma('synchronous', { simple: true }), 2);
      // A throwing transaction rolls back and rejects, with no sync to wait for.
      await assert.rejects(
        db.updateDurable(() => {
          db.prepare('INSERT INTO t VALUES (?)').run(9);
          throw new Error('boom');
        }),
        /boom/,
      );
      assert.deepEqual(db.prepare('SELECT v FROM t ORDER BY v').pluck().all(), [1, 2, 3]);
      await db.syncWal();
    } finally {
      db.close();
    }
    await assert.rejects(db.syncWal(), /closed/);
    // Reopened: the commits are there, the WAL folded back by close.
    const again = new SqliteDB({ path, migrations, what: 'test schema' });
    try {
      assert.deepEqual(again.prepare('SELECT v FROM t ORDER BY v').pluck().all(), [1, 2, 3]);
    } finally {
      again.close();
      dir.remove();
    }
  });
});
