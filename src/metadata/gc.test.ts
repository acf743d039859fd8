import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { type TempDir, tempDir } from '../../test/helpers/tmp.js';
import { LocalContentStore } from '../content/index.js';
import { isNotFound } from '../core/errdefs/index.js';
import { nullLogger } from '../core/log/index.js';
import type { OpContext } from '../core/namespaces/index.js';
import { MetadataContentStore } from './content.js';
import { MetadataDB } from './db.js';
import { MetadataGc } from './gc.js';

const digestOf = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('MetadataGc', () => {
  let dir: TempDir;
  let mdb: MetadataDB;
  let backend: LocalContentStore;
  let store: MetadataContentStore;
  let gc: MetadataGc;
  const ctx = (namespace: string, lease?: string): OpContext => ({
    namespace,
    ...(lease && { lease }),
    signal: new AbortController().signal,
    log: nullLogger,
  });
  const blobPath = (d: string) =>
    join(dir.path, 'content', 'blobs', 'sha256', d.slice('sha256:'.length));

  async function put(c: OpContext, data: string, labels: Record<string, string> = {}) {
    const buf = Buffer.from(data);
    const w = await store.writer(c, { ref: `ref-${data}` });
    await w.write(buf);
    return w.commit(buf.length, digestOf(buf), { labels });
  }

  beforeEach(() => {
    dir = tempDir();
    mdb = new MetadataDB({ path: join(dir.path, 'meta.db') });
    backend = new LocalContentStore(join(dir.path, 'content'));
    store = new MetadataContentStore(mdb, backend, () => gc.schedule());
    gc = new MetadataGc({
      mdb,
      backend,
      committing: () => store.committing(),
      log: nullLogger,
      delayMs: 5,
      deletionThreshold: 1,
    });
  });
  afterEach(async () => {
    await gc.close();
    mdb.close();
    dir.remove();
  });

  it('keeps what images reach through gc.ref labels and removes the rest', async () => {
    const a = ctx('a');
    const layer = await put(a, 'layer');
    const config = await put(a, 'config');
    const manifest = await put(a, 'manifest', {
      'containerd.io/gc.ref.content.l.0': layer,
      'containerd.io/gc.ref.content.config': config,
    });
    const orphan = await put(a, 'orphan');
    const rooted = await put(a, 'rooted', { 'containerd.io/gc.root': 'yes' });
    mdb.db
      .prepare(
        `INSERT INTO images (namespace, name, target_media_type, target_digest, target_size, created_at, updated_at)
         VALUES ('a', 'img', 'application/vnd.oci.image.manifest.v1+json', ?, 8, 0, 0)`,
      )
      .run(manifest);

    const stats = await gc.collect();
    assert.deepEqual(stats.removed, { content: 1, blobs: 1 });
    for (const d of [layer, config, manifest, rooted]) assert.ok(existsSync(blobPath(d)), d);
    assert.equal(existsSync(blobPath(orphan)), false);
    await assert.rejects(store.info(a, orphan), isNotFound);

    mdb.db.prepare(`DELETE FROM images WHERE namespace = 'a'`).run();
    await gc.collect();
    for (const d of [layer, config, manifest]) assert.equal(existsSync(blobPath(d)), false, d);
    assert.ok(existsSync(blobPath(rooted)));
  });

  it('keeps a blob another namespace still records', async () => {
    const shared = await put(ctx('a'), 'shared', { 'containerd.io/gc.root': '1' });
    const w = store.writer(ctx('b'), { ref: 'x', expected: shared });
    await assert.rejects(w, /already exists/);
    await store.info(ctx('b'), shared);
    await gc.collect();
    // b's record was unreferenced and went; a's root keeps the bytes.
    await assert.rejects(store.info(ctx('b'), shared), isNotFound);
    assert.ok(existsSync(blobPath(shared)));
  });

  it('holds leased content until the lease is gone or expired', async () => {
    mdb.db.prepare(`INSERT INTO namespaces (name, created_at) VALUES ('a', 0)`).run();
    mdb.db
      .prepare(`INSERT INTO leases (namespace, id, labels, created_at) VALUES ('a', 'l1', '{}', 0)`)
      .run();
    const held = await put(ctx('a', 'l1'), 'held');
    await gc.collect();
    assert.ok(existsSync(blobPath(held)));

    mdb.db
      .prepare(`UPDATE leases SET labels = ? WHERE id = 'l1'`)
      .run(JSON.stringify({ 'containerd.io/gc.expire': '2000-01-01T00:00:00Z' }));
    const stats = await gc.collect();
    assert.equal(stats.removed.leases, 1);
    assert.equal(existsSync(blobPath(held)), false);
  });

  it('aborts expired ingests not held by a lease, and leaves live ones', async () => {
    const a = ctx('a');
    const w1 = await store.writer(a, { ref: 'stale' });
    await w1.write(Buffer.from('partial'));
    await w1.close();
    const w2 = await store.writer(a, { ref: 'fresh' });
    await w2.write(Buffer.from('partial'));
    await w2.close();
    mdb.db.prepare(`UPDATE content_ingests SET expires_at = 1 WHERE ref = 'stale'`).run();
    const stats = await gc.collect();
    assert.equal(stats.removed.ingests, 1);
    assert.deepEqual(
      (await store.listStatuses(a)).map((s) => s.ref),
      ['fresh'],
    );
  });

  it('aborts an ingest opened under a lease once the lease is gone', async () => {
    mdb.db.prepare(`INSERT INTO namespaces (name, created_at) VALUES ('a', 0)`).run();
    mdb.db
      .prepare(`INSERT INTO leases (namespace, id, labels, created_at) VALUES ('a', 'l2', '{}', 0)`)
      .run();
    const w = await store.writer(ctx('a', 'l2'), { ref: 'leased' });
    await w.write(Buffer.from('partial'));
    await w.close();
    await gc.collect();
    assert.deepEqual(
      (await store.listStatuses(ctx('a'))).map((s) => s.ref),
      ['leased'],
      'held by its lease',
    );
    mdb.db.prepare(`DELETE FROM lease_resources WHERE lease = 'l2'`).run();
    mdb.db.prepare(`DELETE FROM leases WHERE id = 'l2'`).run();
    const stats = await gc.collect();
    assert.equal(stats.removed.ingests, 1);
    assert.deepEqual(await store.listStatuses(ctx('a')), []);
  });

  it('coalesces scheduled runs and serves collect() with a run that starts after it', async () => {
    const a = ctx('a');
    const d = await put(a, 'gone-soon');
    await store.delete(a, d);
    const stats = await gc.collect();
    assert.equal(stats.removed.blobs, 1);
    assert.equal(existsSync(blobPath(d)), false);
  });
});
