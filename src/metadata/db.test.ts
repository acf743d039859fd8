import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { tempDir } from '../../test/helpers/tmp.js';
import { MetadataDB } from './db.js';

describe('MetadataDB', () => {
  it('commits updateUnsynced without fsync and goes back to synced commits, even on throw', () => {
    const dir = tempDir();
    const mdb = new MetadataDB({ path: join(dir.path, 'meta.db') });
    try {
      const sync = () => mdb.db.pragma('synchronous', { simple: true });
      assert.equal(sync(), 2);
      assert.equal(
        mdb.updateUnsynced(() => sync()),
        1,
      );
      assert.equal(sync(), 2);
      assert.throws(() =>
        mdb.updateUnsynced(() => {
          throw new Error('boom');
        }),
      );
      assert.equal(sync(), 2);
    } finally {
      mdb.close();
      dir.remove();
    }
  });
});
