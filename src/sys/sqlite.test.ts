import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { tempDir } from '../../test/helpers/tmp.js';
import { withoutFsync } from './sqlite.js';

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
