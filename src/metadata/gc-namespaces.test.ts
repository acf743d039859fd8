import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { type TempDir, tempDir } from '../../test/helpers/tmp.js';
import { LocalContentStore } from '../content/index.js';
import { isFailedPrecondition } from '../core/errdefs/index.js';
import { nullLogger } from '../core/log/index.js';
import type { OpContext } from '../core/namespaces/index.js';
import { NativeSnapshotter } from '../snapshots/native.js';
import { SqliteContainerStore } from './containers.js';
import { MetadataContentStore } from './content.js';
import { MetadataDB } from './db.js';
import { MetadataGc } from './gc.js';
import { SqliteImageStore } from './images.js';
import { SqliteLeaseManager } from './leases.js';
import { SqliteNamespaceStore } from './namespaces.js';
import { MetadataSnapshotter } from './snapshots.js';

const digestOf = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const ctx = (namespace: string, lease?: string): OpContext => ({
  namespace,
  ...(lease && { lease }),
  signal: new AbortController().signal,
  log: nullLogger,
});

/**
 * Deleting a namespace collects its garbage first: what is left is judged
 * after it, and the files are gone when the delete answers.
 */
describe('SqliteNamespaceStore with a collector', () => {
  let dir: TempDir;
  let mdb: MetadataDB;
  let blobs: LocalContentStore;
  let content: MetadataContentStore;
  let backend: NativeSnapshotter;
  let sn: MetadataSnapshotter;
  let gc: MetadataGc;
  let images: SqliteImageStore;
  let containers: SqliteContainerStore;
  let namespaces: SqliteNamespaceStore;

  async function put(c: OpContext, data: string, labels: Record<string, string> = {}) {
    const buf = Buffer.from(data);
    const w = await content.writer(c, { ref: `ref-${data}` });
    await w.write(buf);
    return w.commit(buf.length, digestOf(buf), { labels });
  }

  /** An unpacked image as a pull leaves it: manifest → config → layer snapshot. */
  async function pulled(c: OpContext, name: string): Promise<void> {
    await sn.prepare(c, 'extract', '');
    await sn.commit(c, 'sha256:layer', 'extract');
    const config = await put(c, `config-${name}`, {
      'containerd.io/gc.ref.snapshot.native': 'sha256:layer',
    });
    const manifest = await put(c, `manifest-${name}`, {
      'containerd.io/gc.ref.content.config': config,
    });
    await images.create(c, {
      name,
      labels: {},
      target: {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: manifest,
        size: 1,
      },
    });
  }

  const mustBeEmpty = (ns: string, left: string) => (e: Error) =>
    isFailedPrecondition(e) &&
    e.message === `namespace "${ns}" must be empty, but it still has ${left}`;

  beforeEach(() => {
    dir = tempDir();
    mdb = new MetadataDB({ path: join(dir.path, 'meta.db') });
    blobs = new LocalContentStore(join(dir.path, 'content'));
    content = new MetadataContentStore(mdb, blobs, () => gc.schedule());
    backend = new NativeSnapshotter(join(dir.path, 'native'));
    sn = new MetadataSnapshotter(mdb, 'native', backend, () => gc.schedule());
    gc = new MetadataGc({
      mdb,
      backend: blobs,
      committing: () => content.committing(),
      snapshotters: [sn],
      log: nullLogger,
    });
    images = new SqliteImageStore(mdb);
    containers = new SqliteContainerStore(mdb, () => gc.schedule());
    namespaces = new SqliteNamespaceStore(mdb, gc);
  });
  afterEach(async () => {
    await gc.close();
    backend.close();
    mdb.close();
    dir.remove();
  });

  it('deletes at the first try a namespace whose only content is garbage, and its files', async () => {
    const a = ctx('a');
    await pulled(a, 'img');
    await assert.rejects(
      namespaces.delete('a'),
      mustBeEmpty('a', 'images, blobs, snapshots on "native" snapshotter'),
    );
    // As `ctr images rm` without --sync: the delete only schedules.
    await images.delete(a, 'img');
    gc.schedule();
    await namespaces.delete('a');
    assert.equal(namespaces.get('a'), undefined);
    assert.deepEqual(await blobs.list(a), [], 'no blob left on disk');
    assert.deepEqual(await backend.list(a), [], 'no backend snapshot left');
    assert.deepEqual(readdirSync(join(dir.path, 'native', 'snapshots')), []);
  });

  it('keeps a namespace while a lease holds content; deletes it once the lease is gone', async () => {
    const leases = new SqliteLeaseManager(mdb, gc);
    await leases.create(ctx('l'), { id: 'pull' });
    await put(ctx('l', 'pull'), 'held');
    await assert.rejects(namespaces.delete('l'), mustBeEmpty('l', 'blobs'));
    await leases.delete(ctx('l'), 'pull');
    await namespaces.delete('l');
    assert.deepEqual(await blobs.list(ctx('l')), [], 'the held blob went with the lease');
  });

  it('still refuses a namespace holding what something references, naming it', async () => {
    await put(ctx('b'), 'rooted', { 'containerd.io/gc.root': 'x' });
    await assert.rejects(namespaces.delete('b'), mustBeEmpty('b', 'blobs'));

    await sn.prepare(ctx('s'), 'rw', '', { labels: { 'containerd.io/gc.root': 'x' } });
    await assert.rejects(
      namespaces.delete('s'),
      mustBeEmpty('s', 'snapshots on "native" snapshotter'),
    );

    await sn.prepare(ctx('c'), 'c1', '');
    await containers.create(ctx('c'), {
      id: 'c1',
      labels: {},
      image: '',
      runtime: { name: 'io.containerd.runc.v2' },
      spec: {
        typeUrl: 'types.containerd.io/opencontainers/runtime-spec/1/Spec',
        value: new Uint8Array(),
      },
      snapshotter: 'native',
      snapshotKey: 'c1',
      sandbox: '',
      extensions: {},
    });
    await assert.rejects(
      namespaces.delete('c'),
      mustBeEmpty('c', 'containers, snapshots on "native" snapshotter'),
    );

    await pulled(ctx('i'), 'img');
    await assert.rejects(
      namespaces.delete('i'),
      mustBeEmpty('i', 'images, blobs, snapshots on "native" snapshotter'),
    );
    for (const ns of ['b', 's', 'c', 'i']) assert.ok(namespaces.get(ns), ns);
  });
});
