import assert from 'node:assert/strict';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { type TempDir, tempDir } from '../../test/helpers/tmp.js';
import {
  isAlreadyExists,
  isFailedPrecondition,
  isInvalidArgument,
  isNotFound,
} from '../core/errdefs/index.js';
import { MetadataDB } from './db.js';
import { MIGRATIONS } from './migrations.js';
import { SqliteNamespaceStore } from './namespaces.js';

describe('SqliteNamespaceStore', () => {
  let dir: TempDir;
  let mdb: MetadataDB;
  let store: SqliteNamespaceStore;

  beforeEach(() => {
    dir = tempDir();
    mdb = new MetadataDB({ path: join(dir.path, 'meta.db') });
    store = new SqliteNamespaceStore(mdb);
  });
  afterEach(() => {
    mdb.close();
    dir.remove();
  });

  it('creates, gets and lists with labels', () => {
    store.create({ name: 'b', labels: {} });
    store.create({ name: 'a', labels: { k: 'v' } });
    assert.deepEqual(store.get('a'), { name: 'a', labels: { k: 'v' } });
    assert.equal(store.get('missing'), undefined);
    assert.deepEqual(
      store.list().map((n) => n.name),
      ['a', 'b'],
    );
  });

  it('refuses duplicates, bad names and oversized labels', () => {
    store.create({ name: 'a', labels: {} });
    assert.throws(() => store.create({ name: 'a', labels: {} }), isAlreadyExists);
    assert.throws(() => store.create({ name: 'bad name', labels: {} }), isInvalidArgument);
    assert.throws(
      () => store.create({ name: 'big', labels: { k: 'x'.repeat(4096) } }),
      isInvalidArgument,
    );
    assert.equal(store.get('big'), undefined);
  });

  it('updates labels by mask and replaces them without one', () => {
    store.create({ name: 'a', labels: { keep: '1', drop: '2' } });
    store.update({ name: 'a', labels: { add: '3' } }, ['labels.add', 'labels.drop']);
    assert.deepEqual(store.get('a')?.labels, { keep: '1', add: '3' });
    store.update({ name: 'a', labels: { only: 'x' } });
    assert.deepEqual(store.get('a')?.labels, { only: 'x' });
    assert.throws(() => store.update({ name: 'a', labels: {} }, ['name']), isInvalidArgument);
  });

  it('creates a namespace on update, as containerd does', () => {
    store.update({ name: 'fresh', labels: { k: 'v' } }, ['labels.k']);
    assert.deepEqual(store.get('fresh'), { name: 'fresh', labels: { k: 'v' } });
  });

  it('deletes empty namespaces and refuses ones holding resources', async () => {
    store.create({ name: 'a', labels: {} });
    await store.delete('a');
    assert.equal(store.get('a'), undefined);
    await assert.rejects(store.delete('a'), isNotFound);

    store.create({ name: 'busy', labels: {} });
    mdb.db
      .prepare(
        `INSERT INTO images (namespace, name, target_media_type, target_digest, target_size, created_at, updated_at)
         VALUES ('busy', 'img', 'm', 'sha256:00', 1, 0, 0)`,
      )
      .run();
    mdb.db
      .prepare(
        `INSERT INTO snapshots (namespace, snapshotter, key, backend_id, kind, created_at, updated_at)
         VALUES ('busy', 'overlayfs', 'k', '1', 'active', 0, 0)`,
      )
      .run();
    mdb.db.prepare(`INSERT INTO leases (namespace, id, created_at) VALUES ('busy', 'l1', 0)`).run();
    await assert.rejects(
      store.delete('busy'),
      (err: unknown) =>
        isFailedPrecondition(err) &&
        (err as Error).message ===
          'namespace "busy" must be empty, but it still has images, snapshots on "overlayfs" snapshotter',
    );
    assert.ok(store.get('busy'), 'a refused delete changes nothing');
  });

  it('keeps data across reopen and reports a sound file', () => {
    store.create({ name: 'a', labels: { k: 'v' } });
    mdb.close();
    mdb = new MetadataDB({ path: join(dir.path, 'meta.db') });
    store = new SqliteNamespaceStore(mdb);
    assert.deepEqual(store.get('a'), { name: 'a', labels: { k: 'v' } });
    assert.deepEqual(mdb.integrityCheck(), ['ok']);
    assert.equal(mdb.schemaVersion, MIGRATIONS.at(-1)?.version);
  });

  it('applies migrations in order and refuses a newer schema', () => {
    const path = join(dir.path, 'm.db');
    const steps: number[] = [];
    const migrations = [1, 2].map((version) => ({
      version,
      description: `v${version}`,
      up: () => {
        steps.push(version);
      },
    }));
    new MetadataDB({ path, migrations: migrations.slice(0, 1) }).close();
    const db2 = new MetadataDB({ path, migrations });
    assert.deepEqual(steps, [1, 2]);
    assert.equal(db2.schemaVersion, 2);
    db2.close();
    assert.throws(() => new MetadataDB({ path, migrations: migrations.slice(0, 1) }), /newer/);
  });
});
