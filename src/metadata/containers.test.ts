import assert from 'node:assert/strict';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { type TempDir, tempDir } from '../../test/helpers/tmp.js';
import type { ContainerRecord } from '../core/containers/index.js';
import { containerSuite } from '../core/containers/testsuite.js';
import { isFailedPrecondition, isNotFound } from '../core/errdefs/index.js';
import { nullLogger } from '../core/log/index.js';
import type { OpContext } from '../core/namespaces/index.js';
import { SqliteContainerStore } from './containers.js';
import { MetadataDB } from './db.js';
import { MIGRATIONS } from './migrations.js';
import { SqliteNamespaceStore } from './namespaces.js';

function ctx(namespace?: string): OpContext {
  return { namespace, signal: new AbortController().signal, log: nullLogger };
}

function record(id: string, over: Partial<ContainerRecord> = {}): ContainerRecord {
  return {
    id,
    labels: {},
    image: 'busybox',
    runtime: { name: 'io.containerd.runc.v2' },
    spec: { typeUrl: 'spec', value: new TextEncoder().encode('{}') },
    snapshotter: 'overlayfs',
    snapshotKey: id,
    sandbox: '',
    extensions: {},
    ...over,
  };
}

containerSuite('sqlite', async () => {
  const dir = tempDir();
  const path = join(dir.path, 'meta.db');
  const dbs = [new MetadataDB({ path })];
  return {
    store: new SqliteContainerStore(dbs[0]!),
    ctx: ctx('conformance'),
    async reopen() {
      dbs[0]?.close();
      const db = new MetadataDB({ path });
      dbs.push(db);
      return new SqliteContainerStore(db);
    },
    async cleanup() {
      for (const db of dbs) db.close();
      dir.remove();
    },
  };
});

describe('SqliteContainerStore', () => {
  let dir: TempDir;
  let mdb: MetadataDB;
  let deletes: number;
  let store: SqliteContainerStore;
  const a = ctx('a');

  beforeEach(() => {
    dir = tempDir();
    mdb = new MetadataDB({ path: join(dir.path, 'meta.db') });
    deletes = 0;
    store = new SqliteContainerStore(mdb, () => deletes++);
  });
  afterEach(() => {
    mdb.close();
    dir.remove();
  });

  it('is at the latest schema, with type URLs and extension rows', () => {
    assert.equal(mdb.schemaVersion, MIGRATIONS.at(-1)?.version);
    const cols = (mdb.db.prepare('PRAGMA table_info(containers)').all() as { name: string }[]).map(
      (c) => c.name,
    );
    assert.ok(cols.includes('runtime_options_type') && cols.includes('spec_type'), String(cols));
  });

  it('stores the Anys as bytes plus type URL, and returns plain Uint8Arrays', async () => {
    const value = Uint8Array.from([0, 0xff, 0x10]);
    await store.create(
      a,
      record('c', {
        runtime: { name: 'rt', options: { typeUrl: 'opts', value } },
        extensions: { e: { typeUrl: 'ext', value } },
      }),
    );
    const row = mdb.db
      .prepare('SELECT runtime_options, runtime_options_type, spec_type FROM containers')
      .get() as { runtime_options: Buffer; runtime_options_type: string; spec_type: string };
    assert.deepEqual([...row.runtime_options], [0, 0xff, 0x10]);
    assert.equal(row.runtime_options_type, 'opts');
    assert.equal(row.spec_type, 'spec');
    const got = await store.get(a, 'c');
    assert.equal(Object.getPrototypeOf(got.runtime.options?.value), Uint8Array.prototype);
    assert.equal(Object.getPrototypeOf(got.extensions.e?.value), Uint8Array.prototype);
    // The caller's buffers are copied, not kept.
    value[0] = 9;
    assert.equal((await store.get(a, 'c')).runtime.options?.value[0], 0);
  });

  it('deletes extension rows with their container', async () => {
    await store.create(
      a,
      record('c', { extensions: { e: { typeUrl: 't', value: new Uint8Array() } } }),
    );
    await store.delete(a, 'c');
    assert.equal(
      (mdb.db.prepare('SELECT COUNT(*) AS n FROM container_extensions').get() as { n: number }).n,
      0,
    );
  });

  it('tells its deletion hook about each delete, and only successful ones', async () => {
    await store.create(a, record('c'));
    await assert.rejects(store.delete(a, 'missing'), isNotFound);
    assert.equal(deletes, 0);
    await store.delete(a, 'c');
    assert.equal(deletes, 1);
  });

  it("words not-found as containerd's buckets do", async () => {
    await assert.rejects(store.delete(a, 'x'), /^.*cannot delete container "x" in namespace "a"/);
    await assert.rejects(
      store.update(a, record('x')),
      /cannot update container "x" in namespace "a"/,
    );
    await store.create(a, record('other'));
    await assert.rejects(store.delete(a, 'x'), (e: Error) => e.message === 'container x');
    await assert.rejects(store.update(a, record('x')), (e: Error) => e.message === 'container "x"');
  });

  it('creates the namespace, which then cannot be deleted while it has containers', async () => {
    const namespaces = new SqliteNamespaceStore(mdb);
    await store.create(ctx('fresh'), record('c'));
    assert.deepEqual(namespaces.get('fresh'), { name: 'fresh', labels: {} });
    await assert.rejects(
      namespaces.delete('fresh'),
      (e: Error) =>
        isFailedPrecondition(e) &&
        e.message === 'namespace "fresh" must be empty, but it still has containers',
    );
    await store.delete(ctx('fresh'), 'c');
    await namespaces.delete('fresh');
    assert.equal(namespaces.get('fresh'), undefined);
  });
});
