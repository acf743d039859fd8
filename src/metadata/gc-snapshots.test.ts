import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { type TempDir, tempDir } from '../../test/helpers/tmp.js';
import { LocalContentStore } from '../content/index.js';
import { isNotFound } from '../core/errdefs/index.js';
import { nullLogger } from '../core/log/index.js';
import type { OpContext } from '../core/namespaces/index.js';
import type { Snapshotter } from '../core/snapshots/index.js';
import { NativeSnapshotter } from '../snapshots/native.js';
import { MetadataContentStore } from './content.js';
import { MetadataDB } from './db.js';
import { labelRefs, MetadataGc } from './gc.js';
import { SqliteLeaseManager } from './leases.js';
import { MetadataSnapshotter } from './snapshots.js';

const digestOf = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const ctx = (namespace: string, lease?: string): OpContext => ({
  namespace,
  ...(lease && { lease }),
  signal: new AbortController().signal,
  log: nullLogger,
});

describe('MetadataGc and snapshots', () => {
  let dir: TempDir;
  let mdb: MetadataDB;
  let content: MetadataContentStore;
  let backend: NativeSnapshotter;
  let sn: MetadataSnapshotter;
  let gc: MetadataGc;
  let leases: SqliteLeaseManager;
  const a = ctx('a');
  const snapshotsDir = () => join(dir.path, 'native', 'snapshots');
  const backendKeys = async () => (await backend.list(a)).map((i) => i.name).sort();
  const names = async (c = a) => (await sn.list(c)).map((i) => i.name).sort();

  /** Prepares and commits `name` on `parent`; returns nothing, like ctr. */
  async function layer(c: OpContext, name: string, parent = '', labels = {}) {
    await sn.prepare(c, `${name}-active`, parent);
    await sn.commit(c, name, `${name}-active`, { labels });
  }

  async function put(c: OpContext, data: string, labels: Record<string, string> = {}) {
    const buf = Buffer.from(data);
    const w = await content.writer(c, { ref: `ref-${data}` });
    await w.write(buf);
    return w.commit(buf.length, digestOf(buf), { labels });
  }

  function makeGc(snapshotters: MetadataSnapshotter[]) {
    return new MetadataGc({
      mdb,
      backend: new LocalContentStore(join(dir.path, 'content')),
      committing: () => content.committing(),
      log: nullLogger,
      delayMs: 5,
      deletionThreshold: 1,
      snapshotters,
    });
  }

  beforeEach(() => {
    dir = tempDir();
    mdb = new MetadataDB({ path: join(dir.path, 'meta.db') });
    content = new MetadataContentStore(mdb, new LocalContentStore(join(dir.path, 'content')));
    backend = new NativeSnapshotter(join(dir.path, 'native'));
    sn = new MetadataSnapshotter(mdb, 'native', backend, () => gc.schedule());
    gc = makeGc([sn]);
    leases = new SqliteLeaseManager(mdb, gc);
  });
  afterEach(async () => {
    await gc.close();
    backend.close();
    mdb.close();
    dir.remove();
  });

  it('collects snapshots nothing references, children first, with their directories', async () => {
    await layer(a, 'l1');
    await layer(a, 'l2', 'l1');
    await sn.prepare(a, 'rw', 'l2');
    await sn.view(a, 'v', 'l1');
    const stats = await gc.collect();
    assert.deepEqual(stats.removed, { snapshots: 4, 'snapshots/native': 4 });
    assert.deepEqual(await names(), []);
    assert.deepEqual(await backendKeys(), []);
    assert.deepEqual(readdirSync(snapshotsDir()), []);
  });

  it('keeps gc.root snapshots and their parents', async () => {
    await layer(a, 'l1');
    await layer(a, 'l2', 'l1');
    await layer(a, 'other');
    await sn.prepare(a, 'rw', 'l2', { labels: { 'containerd.io/gc.root': 'x' } });
    const stats = await gc.collect();
    assert.deepEqual(stats.removed, { snapshots: 1, 'snapshots/native': 1 });
    assert.deepEqual(await names(), ['l1', 'l2', 'rw']);
  });

  it('keeps leased snapshots until the lease goes', async () => {
    await leases.create(a, { id: 'pull' });
    const la = ctx('a', 'pull');
    await layer(la, 'sha256:l1');
    await layer(la, 'sha256:l2', 'sha256:l1');
    await sn.prepare(la, 'extract-3 sha256:l3', 'sha256:l2');
    await gc.collect();
    assert.deepEqual(await names(), ['extract-3 sha256:l3', 'sha256:l1', 'sha256:l2']);
    await leases.delete(a, 'pull', { sync: true });
    assert.deepEqual(await names(), []);
    assert.deepEqual(await backendKeys(), []);
  });

  it('follows gc.ref.snapshot labels from content an image reaches', async () => {
    await layer(a, 'sha256:c1');
    await layer(a, 'sha256:c2', 'sha256:c1');
    await layer(a, 'unrelated');
    const config = await put(a, 'config', { 'containerd.io/gc.ref.snapshot.native': 'sha256:c2' });
    const manifest = await put(a, 'manifest', { 'containerd.io/gc.ref.content.config': config });
    mdb.db
      .prepare(
        `INSERT INTO images (namespace, name, target_media_type, target_digest, target_size, created_at, updated_at)
         VALUES ('a', 'img', 'application/vnd.oci.image.manifest.v1+json', ?, 8, 0, 0)`,
      )
      .run(manifest);
    await gc.collect();
    assert.deepEqual(await names(), ['sha256:c1', 'sha256:c2']);
    // A reference to another snapshotter does not keep native snapshots.
    mdb.db
      .prepare(`UPDATE content_blobs SET labels = ? WHERE digest = ?`)
      .run(JSON.stringify({ 'containerd.io/gc.ref.snapshot.overlayfs': 'sha256:c2' }), config);
    await gc.collect();
    assert.deepEqual(await names(), []);
    await content.info(a, config);
    mdb.db.prepare(`DELETE FROM images WHERE namespace = 'a'`).run();
    await gc.collect();
    await assert.rejects(content.info(a, config), isNotFound);
  });

  it('follows references in image, snapshot and container labels', async () => {
    await layer(a, 's-from-image');
    await layer(a, 's-from-snapshot');
    await layer(a, 's-root', '', {
      'containerd.io/gc.root': '1',
      'containerd.io/gc.ref.snapshot.native/x': 's-from-snapshot',
    });
    await layer(a, 's-container');
    await layer(a, 's-container-label');
    const blob = await put(a, 'from-snapshot-label');
    await sn.update(a, { name: 's-root', labels: { 'containerd.io/gc.ref.content.x': blob } }, [
      'labels.containerd.io/gc.ref.content.x',
    ]);
    mdb.db
      .prepare(
        `INSERT INTO images (namespace, name, target_media_type, target_digest, target_size, labels, created_at, updated_at)
         VALUES ('a', 'img', 'm', 'sha256:none', 0, ?, 0, 0)`,
      )
      .run(JSON.stringify({ 'containerd.io/gc.ref.snapshot.native': 's-from-image' }));
    mdb.db
      .prepare(
        `INSERT INTO containers (namespace, id, snapshotter, snapshot_key, labels, created_at, updated_at)
         VALUES ('a', 'c', 'native', 's-container', ?, 0, 0)`,
      )
      .run(JSON.stringify({ 'containerd.io/gc.ref.snapshot.native': 's-container-label' }));
    await layer(a, 'garbage');
    const stats = await gc.collect();
    assert.equal(stats.removed.snapshots, 1);
    assert.deepEqual(await names(), [
      's-container',
      's-container-label',
      's-from-image',
      's-from-snapshot',
      's-root',
    ]);
    await content.info(a, blob);
  });

  it('collects per namespace: a root in one keeps nothing in another', async () => {
    const b = ctx('b');
    await layer(a, 'same', '', { 'containerd.io/gc.root': '1' });
    await layer(b, 'same');
    await gc.collect();
    assert.deepEqual(await names(a), ['same']);
    assert.deepEqual(await names(b), []);
    assert.deepEqual(await backendKeys(), ['a/2/same']);
  });

  it('removes backend snapshots without a record and directories a crash left', async () => {
    await layer(a, 'kept', '', { 'containerd.io/gc.root': '1' });
    await backend.prepare(a, 'a/99/orphan-parent');
    await backend.commit(a, 'a/99/orphan', 'a/99/orphan-parent');
    await backend.prepare(a, 'a/100/orphan-child', 'a/99/orphan');
    mkdirSync(join(snapshotsDir(), 'new-leftover'));
    const stats = await gc.collect();
    assert.equal(stats.removed['snapshots/native'], 2);
    assert.deepEqual(await backendKeys(), ['a/2/kept']);
    assert.deepEqual(readdirSync(snapshotsDir()), ['1']);
  });

  it('never collects what an operation has in flight', async () => {
    await layer(a, 'parent');
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let entered!: () => void;
    const inside = new Promise<void>((r) => {
      entered = r;
    });
    const slow: Snapshotter = Object.assign(Object.create(backend) as Snapshotter, {
      prepare: async (c: OpContext, key: string, parent?: string) => {
        const m = await backend.prepare(c, key, parent);
        entered();
        await gate;
        return m;
      },
    });
    const sw = new MetadataSnapshotter(mdb, 'native', slow);
    await gc.close();
    gc = makeGc([sw]);
    const pending = sw.prepare(a, 'child', 'parent', { labels: { 'containerd.io/gc.root': '1' } });
    await inside;
    // The parent has no root yet and the child no record: both in flight.
    const stats = await gc.collect();
    assert.deepEqual(stats.removed, {});
    release();
    await pending;
    await gc.collect();
    assert.deepEqual(await names(), ['child', 'parent']);
    assert.equal(readdirSync(snapshotsDir()).length, 2);
  });

  it('reads gc.ref labels as containerd does', () => {
    const content: string[] = [];
    const snapshots: string[] = [];
    labelRefs(
      {
        'containerd.io/gc.ref.content': 'c0',
        'containerd.io/gc.ref.content.l.0': 'c1',
        'containerd.io/gc.ref.content/m': 'c2',
        'containerd.io/gc.ref.contentx': 'no',
        'containerd.io/gc.ref.snapshot.overlayfs': 's1',
        'containerd.io/gc.ref.snapshot.native/foo': 's2',
        'containerd.io/gc.ref.snapshot.': 'no',
        'containerd.io/gc.root': 'no',
      },
      (d) => content.push(d),
      (s) => snapshots.push(s),
    );
    assert.deepEqual(content, ['c0', 'c1', 'c2']);
    assert.deepEqual(snapshots, ['overlayfs/s1', 'native/s2']);
  });
});
