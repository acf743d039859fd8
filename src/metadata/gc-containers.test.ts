import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { type TempDir, tempDir } from '../../test/helpers/tmp.js';
import { LocalContentStore } from '../content/index.js';
import type { ContainerRecord } from '../core/containers/index.js';
import { isNotFound } from '../core/errdefs/index.js';
import { nullLogger } from '../core/log/index.js';
import type { OpContext } from '../core/namespaces/index.js';
import { NativeSnapshotter } from '../snapshots/native.js';
import { SqliteContainerStore } from './containers.js';
import { MetadataContentStore } from './content.js';
import { MetadataDB } from './db.js';
import { MetadataGc } from './gc.js';
import { SqliteLeaseManager } from './leases.js';
import { MetadataSnapshotter } from './snapshots.js';

const ctx = (namespace: string, lease?: string): OpContext => ({
  namespace,
  ...(lease && { lease }),
  signal: new AbortController().signal,
  log: nullLogger,
});

function container(id: string, over: Partial<ContainerRecord> = {}): ContainerRecord {
  return {
    id,
    labels: {},
    image: 'img',
    runtime: { name: 'io.containerd.runc.v2' },
    spec: {
      typeUrl: 'types.containerd.io/opencontainers/runtime-spec/1/Spec',
      value: new Uint8Array(),
    },
    snapshotter: 'native',
    snapshotKey: id,
    sandbox: '',
    extensions: {},
    ...over,
  };
}

/**
 * Containers are garbage collection roots, as in containerd's metadata/gc.go:
 * the snapshot they name (snapshotter + key) and whatever their
 * `containerd.io/gc.ref.*` labels reference stay; once the container is
 * deleted, its deletion schedules a collection that removes them.
 */
describe('MetadataGc and containers', () => {
  let dir: TempDir;
  let mdb: MetadataDB;
  let content: MetadataContentStore;
  let backend: NativeSnapshotter;
  let sn: MetadataSnapshotter;
  let gc: MetadataGc;
  let leases: SqliteLeaseManager;
  let containers: SqliteContainerStore;
  const a = ctx('a');
  const names = async (c = a) => (await sn.list(c)).map((i) => i.name).sort();
  const backendKeys = async () => (await backend.list(a)).map((i) => i.name).sort();

  /** What `ctr containers create <image> <id>` does: a snapshot on the image's top layer, then the record, under a lease. */
  async function createLikeCtr(c: OpContext, id: string, over: Partial<ContainerRecord> = {}) {
    const lease = `lease-${id}`;
    await leases.create(c, { id: lease });
    const leased = { ...c, lease };
    await sn.prepare(leased, id, 'layer');
    await containers.create(leased, container(id, over));
    await leases.delete(c, lease);
  }

  async function put(c: OpContext, data: string) {
    const buf = Buffer.from(data);
    const w = await content.writer(c, { ref: `ref-${data}` });
    await w.write(buf);
    return w.commit(buf.length, `sha256:${createHash('sha256').update(buf).digest('hex')}`);
  }

  async function eventually(check: () => Promise<boolean>, what: string) {
    for (let i = 0; i < 200; i++) {
      if (await check()) return;
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.fail(`timed out waiting for ${what}`);
  }

  beforeEach(async () => {
    dir = tempDir();
    mdb = new MetadataDB({ path: join(dir.path, 'meta.db') });
    content = new MetadataContentStore(mdb, new LocalContentStore(join(dir.path, 'content')));
    backend = new NativeSnapshotter(join(dir.path, 'native'));
    sn = new MetadataSnapshotter(mdb, 'native', backend, () => gc.schedule());
    gc = new MetadataGc({
      mdb,
      backend: new LocalContentStore(join(dir.path, 'content')),
      committing: () => content.committing(),
      log: nullLogger,
      delayMs: 5,
      deletionThreshold: 1,
      snapshotters: [sn],
    });
    leases = new SqliteLeaseManager(mdb, gc);
    containers = new SqliteContainerStore(mdb, () => gc.schedule());
    // The image's layer, rooted as an image's would be by its config.
    for (const c of [a, ctx('b')]) {
      await sn.prepare(c, 'layer-active', '');
      await sn.commit(c, 'layer', 'layer-active', { labels: { 'containerd.io/gc.root': 'image' } });
    }
  });
  afterEach(async () => {
    await gc.close();
    backend.close();
    mdb.close();
    dir.remove();
  });

  it("keeps a container's snapshot, and collects it once the container is deleted", async () => {
    await createLikeCtr(a, 'c1');
    await sn.prepare(a, 'stray', 'layer');
    const stats = await gc.collect();
    assert.deepEqual(stats.removed, { snapshots: 1, 'snapshots/native': 1 }, 'only the stray');
    assert.deepEqual(await names(), ['c1', 'layer']);
    const [backendKey] = (await backendKeys()).filter((k) => k.endsWith('/c1'));
    assert.ok(backendKey, 'the backend still has the container snapshot');

    // Deleting the container schedules a collection (the store's dirty mark).
    await containers.delete(a, 'c1');
    await eventually(async () => !(await names()).includes('c1'), 'the snapshot record to go');
    await eventually(
      async () => !(await backendKeys()).includes(backendKey),
      'the backend snapshot to go',
    );
    assert.deepEqual(await names(), ['layer']);
    assert.equal(readdirSync(join(dir.path, 'native', 'snapshots')).length, 2, 'two layers left');
  });

  it('keeps the snapshot the container names now, after an update of its key', async () => {
    await createLikeCtr(a, 'c1');
    await sn.prepare(a, 'c1-next', 'layer');
    await containers.update(a, container('c1', { snapshotKey: 'c1-next' }), ['snapshotkey']);
    await gc.collect();
    assert.deepEqual(await names(), ['c1-next', 'layer']);
  });

  it('roots only the snapshotter and namespace the container names', async () => {
    // Same key, other snapshotter: the native snapshot is not held.
    await sn.prepare(a, 'c-over', 'layer');
    await containers.create(a, container('c-over', { snapshotter: 'overlayfs' }));
    // Same key, other namespace.
    await sn.prepare(a, 'c-b', 'layer');
    await createLikeCtr(ctx('b'), 'c-b');
    await gc.collect();
    assert.deepEqual(await names(), ['layer']);
    assert.deepEqual(await names(ctx('b')), ['c-b', 'layer']);
  });

  it('follows gc.ref labels on containers to content and snapshots', async () => {
    const blob = await put(a, 'checkpoint');
    const other = await put(a, 'unreferenced');
    await sn.prepare(a, 'extra', 'layer');
    await createLikeCtr(a, 'c1', {
      labels: {
        'containerd.io/gc.ref.content.checkpoint': blob,
        'containerd.io/gc.ref.snapshot.native/extra': 'extra',
      },
    });
    await gc.collect();
    assert.deepEqual(await names(), ['c1', 'extra', 'layer']);
    await content.info(a, blob);
    await assert.rejects(content.info(a, other), isNotFound);

    // Dropping the label (containers.update) lets them go at the next collection.
    await containers.update(a, container('c1'), ['labels']);
    await gc.collect();
    assert.deepEqual(await names(), ['c1', 'layer']);
    await assert.rejects(content.info(a, blob), isNotFound);
  });
});
