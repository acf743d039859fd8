import assert from 'node:assert/strict';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { CountingGc } from '../../test/helpers/doubles.js';
import { type TempDir, tempDir } from '../../test/helpers/tmp.js';
import {
  isAlreadyExists,
  isFailedPrecondition,
  isInvalidArgument,
  isNotFound,
  isNotImplemented,
} from '../core/errdefs/index.js';
import { LEASE_EXPIRE_LABEL } from '../core/leases/index.js';
import { nullLogger } from '../core/log/index.js';
import type { OpContext } from '../core/namespaces/index.js';
import { MetadataDB } from './db.js';
import { addLeaseResourceTx, removeLeaseResourceTx, SqliteLeaseManager } from './leases.js';
import { SqliteNamespaceStore } from './namespaces.js';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;

function ctx(namespace?: string): OpContext {
  return { namespace, signal: new AbortController().signal, log: nullLogger };
}

/** A GcScheduler that counts calls; `collect` resolves when the test says so. */

async function rejects(p: Promise<unknown>, kind: (e: unknown) => boolean, re: RegExp) {
  await assert.rejects(p, (e: Error) => kind(e) && re.test(e.message));
}

describe('SqliteLeaseManager', () => {
  let dir: TempDir;
  let mdb: MetadataDB;
  let gc: CountingGc;
  let leases: SqliteLeaseManager;
  const a = ctx('a');

  beforeEach(() => {
    dir = tempDir();
    mdb = new MetadataDB({ path: join(dir.path, 'meta.db') });
    gc = new CountingGc();
    leases = new SqliteLeaseManager(mdb, gc);
  });
  afterEach(() => {
    mdb.close();
    dir.remove();
  });

  it('creates leases with labels, the expiry label included', async () => {
    const before = BigInt(Date.now()) * 1_000_000n;
    const expire = new Date(Date.now() + 86_400_000).toISOString().replace(/\.\d+Z$/, 'Z');
    const l = await leases.create(a, {
      id: 'pull-1',
      labels: { [LEASE_EXPIRE_LABEL]: expire, empty: '' },
    });
    assert.equal(l.id, 'pull-1');
    assert.deepEqual(l.labels, { [LEASE_EXPIRE_LABEL]: expire });
    assert.ok(l.createdAt >= before);
    assert.deepEqual(await leases.list(a), [l]);
    const bare = await leases.create(a, { id: 'bare' });
    assert.deepEqual(bare.labels, {});
  });

  it('creates the namespace on first use and keeps namespaces apart', async () => {
    const namespaces = new SqliteNamespaceStore(mdb);
    await leases.create(ctx('fresh'), { id: 'l' });
    assert.ok(namespaces.get('fresh'));
    assert.deepEqual(await leases.list(ctx('other')), []);
    await rejects(leases.delete(ctx('other'), 'l'), isNotFound, /^lease "l"$/);
    await rejects(leases.listResources(ctx('other'), 'l'), isNotFound, /^lease "l"$/);
    await leases.create(ctx('other'), { id: 'l' });
    // Leases do not keep a namespace from being deleted; they go with it.
    await namespaces.delete('other');
    assert.equal((await leases.list(ctx('fresh'))).length, 1);
  });

  it("accepts containerd's ids, including the Go client's random ones", async () => {
    for (const id of ['123456789-a_-B', '1-__--', 'buildkit/abc:def', 'x'.repeat(256)]) {
      await leases.create(a, { id });
    }
    assert.equal((await leases.list(a)).length, 4);
  });

  it('refuses empty, invalid and taken ids', async () => {
    await rejects(leases.create(a, { id: '' }), isInvalidArgument, /lease id must be provided/);
    for (const id of ['has space', 'tab\t', 'ünï', 'x'.repeat(257)]) {
      await rejects(leases.create(a, { id }), isInvalidArgument, /visible ASCII/);
    }
    await leases.create(a, { id: 'l' });
    await rejects(leases.create(a, { id: 'l' }), isAlreadyExists, /^lease "l"$/);
    await rejects(
      leases.create(a, { id: 'big', labels: { k: 'v'.repeat(4096) } }),
      isInvalidArgument,
      /^lease\.labels: label key and value greater/,
    );
    await rejects(leases.create(ctx(), { id: 'x' }), isFailedPrecondition, /namespace/);
  });

  it('filters List by id and labels', async () => {
    await leases.create(a, { id: 'a1', labels: { team: 'a', 'io.example/x': '1' } });
    await leases.create(a, { id: 'a2', labels: { team: 'b' } });
    await leases.create(a, { id: 'b1' });
    const ids = async (...f: string[]) => (await leases.list(a, f)).map((l) => l.id);
    assert.deepEqual(await ids(), ['a1', 'a2', 'b1']);
    assert.deepEqual(await ids('id==a2'), ['a2']);
    assert.deepEqual(await ids('id~=^a'), ['a1', 'a2']);
    assert.deepEqual(await ids('labels.team'), ['a1', 'a2']);
    assert.deepEqual(await ids('labels."io.example/x"==1'), ['a1']);
    assert.deepEqual(await ids('labels.team==b', 'id==b1'), ['a2', 'b1']);
    assert.deepEqual(await ids('id!=a1,labels.team'), ['a2']);
    await rejects(leases.list(a, ['id==']), isInvalidArgument, /filter "id=="/);
  });

  it('deletes: schedules GC, or with sync waits for a collection', async () => {
    await leases.create(a, { id: 'l1' });
    await leases.create(a, { id: 'l2' });
    await leases.delete(a, 'l1');
    assert.equal(gc.schedules, 1);
    assert.equal(gc.collects, 0);

    gc.hold = true;
    let done = false;
    const p = leases.delete(a, 'l2', { sync: true }).then(() => {
      done = true;
    });
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(gc.collects, 1);
    assert.equal(done, false, 'a sync delete waits for the collection');
    gc.release();
    await p;
    assert.equal(done, true);
    assert.deepEqual(await leases.list(a), []);
    await rejects(leases.delete(a, 'l2'), isNotFound, /^lease "l2"$/);
    assert.equal(gc.schedules, 1, 'a failed delete schedules nothing');
  });

  it('adds, lists and deletes resources in containerd order', async () => {
    await leases.create(a, { id: 'l' });
    await leases.addResource(a, 'l', { type: 'snapshots/overlayfs', id: 'extract-1 sha256:x' });
    await leases.addResource(a, 'l', { type: 'ingests', id: 'layer-sha256:abc' });
    await leases.addResource(a, 'l', { type: 'content', id: D2 });
    await leases.addResource(a, 'l', { type: 'content', id: D1 });
    await leases.addResource(a, 'l', { type: 'content', id: D1 });
    await leases.addResource(a, 'l', { type: 'snapshots/native', id: 'k' });
    assert.deepEqual(await leases.listResources(a, 'l'), [
      { id: D1, type: 'content' },
      { id: D2, type: 'content' },
      { id: 'layer-sha256:abc', type: 'ingests' },
      { id: 'k', type: 'snapshots/native' },
      { id: 'extract-1 sha256:x', type: 'snapshots/overlayfs' },
    ]);
    await leases.deleteResource(a, 'l', { type: 'content', id: D2 });
    assert.equal(gc.schedules, 1, 'releasing a resource schedules GC');
    await leases.deleteResource(a, 'l', { type: 'ingests', id: 'not-held' });
    assert.equal(gc.schedules, 1, 'releasing nothing does not');
    assert.equal((await leases.listResources(a, 'l')).length, 4);

    await leases.delete(a, 'l');
    await leases.create(a, { id: 'l' });
    assert.deepEqual(await leases.listResources(a, 'l'), [], 'resources go with their lease');
  });

  it('validates resources as containerd does', async () => {
    await rejects(
      leases.addResource(a, 'missing', { type: 'content', id: D1 }),
      isNotFound,
      /^lease "missing"$/,
    );
    await leases.create(a, { id: 'l' });
    await rejects(
      leases.addResource(a, 'l', { type: 'content', id: 'sha256:nope' }),
      isInvalidArgument,
      /^invalid content resource id sha256:nope: /,
    );
    await rejects(
      leases.addResource(a, 'l', { type: 'content/x', id: D1 }),
      isInvalidArgument,
      /^invalid resource type content\/x$/,
    );
    await rejects(
      leases.addResource(a, 'l', { type: 'snapshots', id: 'k' }),
      isInvalidArgument,
      /^invalid snapshot resource type snapshots$/,
    );
    await rejects(
      leases.addResource(a, 'l', { type: 'snapshots/', id: 'k' }),
      isInvalidArgument,
      /invalid snapshot resource type/,
    );
    await rejects(
      leases.addResource(a, 'l', { type: 'ingests', id: '' }),
      isInvalidArgument,
      /resource id must not be empty/,
    );
    await rejects(
      leases.addResource(a, 'l', { type: 'containers', id: 'c' }),
      isNotImplemented,
      /^resource type containers not supported yet$/,
    );
    await rejects(
      leases.deleteResource(a, 'missing', { type: 'content', id: D1 }),
      isNotFound,
      /lease "missing"/,
    );
    assert.deepEqual(await leases.listResources(a, 'l'), []);
  });

  it('lets other stores add and remove resources inside their transactions', async () => {
    await leases.create(a, { id: 'l' });
    mdb.update(() => addLeaseResourceTx(mdb, 'a', 'l', { type: 'ingests', id: 'ref' }));
    assert.throws(
      () => mdb.update(() => addLeaseResourceTx(mdb, 'a', 'gone', { type: 'ingests', id: 'r' })),
      (e: Error) => isNotFound(e) && e.message === 'lease "gone"',
    );
    // A failure rolls back the caller's whole transaction.
    assert.throws(() =>
      mdb.update(() => {
        addLeaseResourceTx(mdb, 'a', 'l', { type: 'content', id: D1 });
        addLeaseResourceTx(mdb, 'a', 'gone', { type: 'content', id: D1 });
      }),
    );
    assert.deepEqual(await leases.listResources(a, 'l'), [{ id: 'ref', type: 'ingests' }]);
    assert.equal(
      mdb.update(() => removeLeaseResourceTx(mdb, 'a', 'l', { type: 'ingests', id: 'ref' })),
      true,
    );
    assert.equal(
      mdb.update(() => removeLeaseResourceTx(mdb, 'a', 'gone', { type: 'ingests', id: 'ref' })),
      false,
    );
    assert.deepEqual(await leases.listResources(a, 'l'), []);
  });

  it('keeps creation times exact across reopen', async () => {
    const l = await leases.create(a, { id: 'l', labels: { k: 'v' } });
    mdb.close();
    mdb = new MetadataDB({ path: join(dir.path, 'meta.db') });
    leases = new SqliteLeaseManager(mdb, gc);
    assert.deepEqual(await leases.list(a), [l]);
  });
});
