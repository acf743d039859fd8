import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { ctxOf, imageStores, type TestStores } from '../../test/helpers/image-stores.js';
import {
  addImage,
  addIndex,
  dirEntry,
  fileEntry,
  MemoryRegistry,
  type TestImage,
} from '../../test/helpers/memory-registry.js';
import { type TempDir, tempDir } from '../../test/helpers/tmp.js';
import { isFailedPrecondition, isNotFound } from '../core/errdefs/index.js';
import type { Progress } from '../core/transfer/index.js';
import { chainIds } from './chain.js';
import { imageConfig, imageSize } from './image.js';
import { pull } from './pull.js';
import { isUnpacked, unpack } from './unpack.js';

const REF = '127.0.0.1:5000/test/app:v1';
const ctx = ctxOf('default');

describe('pull', () => {
  let dir: TempDir;
  let stores: TestStores;
  let reg: MemoryRegistry;

  beforeEach(() => {
    dir = tempDir('berth-images-');
    stores = imageStores(dir.path);
    reg = new MemoryRegistry();
  });
  afterEach(async () => {
    await stores.close();
    dir.remove();
  });

  async function threePlatforms(): Promise<TestImage[]> {
    const out: TestImage[] = [];
    for (const p of ['linux/amd64', 'linux/arm64/v8', 'linux/arm/v7']) {
      out.push(
        await addImage(
          reg,
          [[dirEntry('etc'), fileEntry('etc/platform', p)], [fileEntry('app', `app for ${p}`)]],
          {
            platform: p,
          },
        ),
      );
    }
    reg.tag(REF, addIndex(reg, out));
    return out;
  }

  const blobs = async () => new Set((await stores.content.list(ctx)).map((i) => i.digest));
  const layerDigests = (img: TestImage) => img.layers.map((l) => l.desc.digest);

  it('pulls the host platform of a multi-platform index, with containerd labels', async () => {
    const [amd, arm64, arm] = await threePlatforms();
    const idx = reg.tags.get(REF)!;
    const image = await pull(ctx, stores, reg.resolver(), REF, { platforms: ['linux/amd64'] });
    assert.equal(image.name, REF);
    assert.deepEqual(image.target, idx);
    const have = await blobs();
    for (const d of [idx.digest, amd!.manifest.digest, amd!.config.digest, ...layerDigests(amd!)]) {
      assert.ok(have.has(d), d);
    }
    for (const d of [
      arm64!.manifest.digest,
      arm64!.config.digest,
      ...layerDigests(arm64!),
      arm!.manifest.digest,
    ]) {
      assert.ok(!have.has(d), `other platform's ${d} was fetched`);
    }
    // The index names every manifest (all platforms), as SetChildrenMappedLabels does.
    const idxInfo = await stores.content.info(ctx, idx.digest);
    assert.equal(idxInfo.labels['containerd.io/gc.ref.content.m.0'], amd!.manifest.digest);
    assert.equal(idxInfo.labels['containerd.io/gc.ref.content.m.1'], arm64!.manifest.digest);
    assert.equal(idxInfo.labels['containerd.io/gc.ref.content.m.2'], arm!.manifest.digest);
    const mInfo = await stores.content.info(ctx, amd!.manifest.digest);
    assert.deepEqual(
      Object.fromEntries(Object.entries(mInfo.labels).filter(([k]) => k.includes('gc.ref'))),
      {
        'containerd.io/gc.ref.content.config': amd!.config.digest,
        'containerd.io/gc.ref.content.l.0': amd!.layers[0]!.desc.digest,
        'containerd.io/gc.ref.content.l.1': amd!.layers[1]!.desc.digest,
      },
    );
    for (const d of [idx.digest, amd!.manifest.digest, amd!.config.digest, ...layerDigests(amd!)]) {
      const info = await stores.content.info(ctx, d);
      assert.equal(info.labels['containerd.io/distribution.source.127.0.0.1'], 'test/app', d);
    }
    // No lease left: the temporary one was deleted.
    assert.deepEqual(await stores.leases.list(ctx), []);
    assert.equal(
      await imageSize(ctx, stores, image, 'linux/amd64'),
      idx.size +
        amd!.manifest.size +
        amd!.config.size +
        amd!.layers.reduce((n, l) => n + l.desc.size, 0),
    );
    const cfg = await imageConfig(ctx, stores, image, 'linux/amd64');
    assert.deepEqual(cfg.desc, amd!.config);
  });

  it('pulls one named platform, with the arm64 → arm fallback order', async () => {
    const [, arm64, arm] = await threePlatforms();
    await pull(ctx, stores, reg.resolver(), REF, { platforms: ['linux/arm64'] });
    const have = await blobs();
    assert.ok(have.has(arm64!.config.digest));
    assert.ok(!have.has(arm!.config.digest), 'only the best match is pulled');
  });

  it('pulls every platform with allPlatforms', async () => {
    const imgs = await threePlatforms();
    await pull(ctx, stores, reg.resolver(), REF, { allPlatforms: true });
    const have = await blobs();
    for (const img of imgs)
      for (const d of [img.config.digest, ...layerDigests(img)]) assert.ok(have.has(d));
  });

  it('allMetadata fetches every manifest and config, the layers of the selected platform only', async () => {
    const [amd, arm64, arm] = await threePlatforms();
    const image = await pull(ctx, stores, reg.resolver(), REF, {
      platforms: ['linux/amd64'],
      allMetadata: true,
    });
    const have = await blobs();
    for (const img of [amd!, arm64!, arm!]) {
      assert.ok(have.has(img.manifest.digest), `manifest ${img.manifest.digest}`);
      assert.ok(have.has(img.config.digest), `config ${img.config.digest}`);
    }
    for (const d of layerDigests(amd!)) assert.ok(have.has(d));
    for (const d of [...layerDigests(arm64!), ...layerDigests(arm!)]) assert.ok(!have.has(d));
    // Every manifest still names its layers for GC.
    const info = await stores.content.info(ctx, arm64!.manifest.digest);
    assert.equal(info.labels['containerd.io/gc.ref.content.l.0'], arm64!.layers[0]!.desc.digest);
    assert.equal(image.target.mediaType, 'application/vnd.oci.image.index.v1+json');
  });

  it('manifestLimit keeps that many manifests, best first; with allMetadata the matching ones first', async () => {
    const [amd, arm64, arm] = await threePlatforms();
    await pull(ctx, stores, reg.resolver(), REF, {
      platforms: ['linux/arm64', 'linux/amd64'],
      manifestLimit: 1,
    });
    let have = await blobs();
    assert.ok(have.has(arm64!.config.digest));
    for (const img of [amd!, arm!]) assert.ok(!have.has(img.manifest.digest));

    await stores.close();
    dir.remove();
    dir = tempDir('berth-images-');
    stores = imageStores(dir.path);
    // all_metadata limits before it filters: the non-matching manifests come last.
    await pull(ctx, stores, reg.resolver(), REF, {
      platforms: ['linux/arm/v7'],
      allMetadata: true,
      manifestLimit: 2,
    });
    have = await blobs();
    for (const d of [arm!.manifest.digest, arm!.config.digest, ...layerDigests(arm!)]) {
      assert.ok(have.has(d));
    }
    assert.ok(have.has(amd!.config.digest), 'the first of the others, metadata only');
    for (const d of layerDigests(amd!)) assert.ok(!have.has(d));
    assert.ok(!have.has(arm64!.manifest.digest), 'past the limit');
  });

  it('fails naming the platform when the index has none that matches', async () => {
    await threePlatforms();
    await assert.rejects(
      pull(ctx, stores, reg.resolver(), REF, { platforms: ['linux/s390x'] }),
      (e: Error) => isNotFound(e) && /linux\/s390x/.test(e.message),
    );
    await assert.rejects(stores.images.get(ctx, REF), isNotFound);
  });

  it('unpacks while fetching: chain IDs, snapshot labels, uncompressed and gc.ref.snapshot labels', async () => {
    const img = await addImage(reg, [
      [dirEntry('etc'), fileEntry('etc/a', 'a')],
      [fileEntry('etc/b', 'b')],
      [fileEntry('etc/c', 'c')],
    ]);
    reg.tag(REF, img.manifest);
    const events: Progress[] = [];
    const image = await pull(ctx, stores, reg.resolver(), REF, {
      unpack: [{ snapshotter: 'native', platform: 'linux/amd64' }],
      onProgress: (p) => events.push(p),
    });
    // Chain IDs computed by hand: sha256("<parent> <diffID>").
    const { createHash } = await import('node:crypto');
    const h = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}`;
    const c1 = img.diffIds[0]!;
    const c2 = h(`${c1} ${img.diffIds[1]}`);
    const c3 = h(`${c2} ${img.diffIds[2]}`);
    assert.deepEqual(chainIds(img.diffIds), [c1, c2, c3]);
    const sn = stores.snapshotter('native');
    const infos = await sn.list(ctx);
    assert.deepEqual(infos.map((i) => i.name).sort(), [c1, c2, c3].sort());
    for (const i of infos) {
      assert.equal(i.kind, 'committed');
      assert.equal(i.labels['containerd.io/snapshot.ref'], i.name);
    }
    assert.equal((await sn.stat(ctx, c3)).parent, c2);
    for (const l of img.layers) {
      const info = await stores.content.info(ctx, l.desc.digest);
      assert.equal(info.labels['containerd.io/uncompressed'], l.diffId);
    }
    const cfg = await stores.content.info(ctx, img.config.digest);
    assert.equal(cfg.labels['containerd.io/gc.ref.snapshot.native'], c3);
    assert.equal(await isUnpacked(ctx, stores, image, { snapshotter: 'native' }), true);
    assert.ok(events.some((e) => e.event === 'unpacked'));
    assert.ok(
      events.some(
        (e) => e.event === 'complete' && e.name === `layer-${img.layers[0]!.desc.digest}`,
      ),
    );
    // The image keeps everything through a collection.
    await stores.gc.collect();
    assert.equal((await sn.list(ctx)).length, 3);
    assert.equal((await stores.content.list(ctx)).length, 5);
  });

  it('does not refetch blobs that are present, and appends the distribution source', async () => {
    const img = await addImage(reg, [[fileEntry('a', 'a')]]);
    reg.tag(REF, img.manifest);
    const other = '127.0.0.1:5000/other/app:v1';
    reg.tag(other, img.manifest);
    await pull(ctx, stores, reg.resolver(), REF);
    const before = reg.fetched.length;
    const events: Progress[] = [];
    await pull(ctx, stores, reg.resolver(), other, { onProgress: (p) => events.push(p) });
    assert.equal(reg.fetched.length, before, 'nothing fetched again');
    assert.ok(events.some((e) => e.event === 'already exists'));
    const info = await stores.content.info(ctx, img.layers[0]!.desc.digest);
    assert.equal(info.labels['containerd.io/distribution.source.127.0.0.1'], 'other/app,test/app');
  });

  it('resumes a partial ingest from its offset', async () => {
    const { randomBytes } = await import('node:crypto');
    const big = randomBytes(600_000);
    const img = await addImage(reg, [[fileEntry('big', big)]]);
    reg.tag(REF, img.manifest);
    const layer = img.layers[0]!.desc;
    reg.chunk = 16 * 1024;
    reg.cutAfter.set(layer.digest, 100_000);
    const lease = 'keep';
    await stores.leases.create(ctx, { id: lease });
    const leased = ctxOf('default', lease);
    await assert.rejects(pull(leased, stores, reg.resolver(), REF), /connection reset/);
    const st = await stores.content.status(leased, `layer-${layer.digest}`);
    assert.ok(st.offset > 0 && st.offset <= 100_000, `partial ingest at ${st.offset}`);
    await pull(leased, stores, reg.resolver(), REF);
    const last = reg.fetched.filter((f) => f.digest === layer.digest).at(-1)!;
    assert.equal(last.offset, st.offset, 'the second fetch starts where the ingest stopped');
    assert.equal((await stores.content.info(ctx, layer.digest)).size, layer.size);
    await stores.leases.delete(ctx, lease);
  });

  it('fails on a layer whose bytes do not match its digest, leaving nothing after the lease', async () => {
    const img = await addImage(reg, [[fileEntry('a', 'a')], [fileEntry('b', 'b'.repeat(100_000))]]);
    reg.tag(REF, img.manifest);
    reg.corrupt.add(img.layers[1]!.desc.digest);
    await assert.rejects(
      pull(ctx, stores, reg.resolver(), REF, { unpack: [{ snapshotter: 'native' }] }),
      isFailedPrecondition,
    );
    await assert.rejects(stores.images.get(ctx, REF), isNotFound);
    assert.deepEqual(await stores.leases.list(ctx), []);
    await stores.gc.collect();
    assert.deepEqual(await stores.content.listStatuses(ctx), []);
    assert.deepEqual(await stores.content.list(ctx), []);
    assert.deepEqual(await stores.snapshotter('native').list(ctx), []);
    const ingestDir = join(dir.path, 'content', 'ingest');
    assert.deepEqual(existsSync(ingestDir) ? readdirSync(ingestDir) : [], []);
  });

  it('fails on a diffID mismatch and removes the extraction snapshot', async () => {
    const good = await addImage(reg, [[fileEntry('a', 'a')]]);
    const img = await addImage(reg, [[fileEntry('a', 'a')], [fileEntry('b', 'b')]], {
      diffIds: [good.diffIds[0]!, `sha256:${'0'.repeat(64)}`],
    });
    reg.tag(REF, img.manifest);
    await assert.rejects(
      pull(ctx, stores, reg.resolver(), REF, { unpack: [{ snapshotter: 'native' }] }),
      (e: Error) => isFailedPrecondition(e) && /wrong diff id/.test(e.message),
    );
    const left = await stores.snapshotter('native').list(ctx);
    assert.deepEqual(
      left.filter((s) => s.kind !== 'committed'),
      [],
      'no active snapshot left',
    );
    await stores.gc.collect();
    assert.deepEqual(await stores.snapshotter('native').list(ctx), []);
  });

  it('unpack() after a pull without unpack, and a second unpack is a no-op', async () => {
    const img = await addImage(reg, [[fileEntry('a', 'a')], [fileEntry('b', 'b')]]);
    reg.tag(REF, img.manifest);
    const image = await pull(ctx, stores, reg.resolver(), REF);
    assert.equal(await isUnpacked(ctx, stores, image, { snapshotter: 'native' }), false);
    await unpack(ctx, stores, image, { snapshotter: 'native' });
    assert.equal(await isUnpacked(ctx, stores, image, { snapshotter: 'native' }), true);
    await unpack(ctx, stores, image, { snapshotter: 'native' });
    assert.equal((await stores.snapshotter('native').list(ctx)).length, 2);
    assert.deepEqual(await stores.leases.list(ctx), []);
  });

  it('a cancelled pull stops and leaves nothing once its lease is gone', async () => {
    const { randomBytes } = await import('node:crypto');
    const img = await addImage(reg, [
      [fileEntry('a', 'a')],
      [fileEntry('big', randomBytes(2_000_000))],
    ]);
    reg.tag(REF, img.manifest);
    reg.chunk = 4 * 1024;
    const ac = new AbortController();
    const cctx = { ...ctx, signal: ac.signal };
    const p = pull(cctx, stores, reg.resolver(), REF, {
      unpack: [{ snapshotter: 'native' }],
      onProgress: (e) => {
        if (e.event === 'unpacked') ac.abort(new Error('stop'));
      },
    });
    await assert.rejects(p, /stop|abort/i);
    assert.equal(reg.active, 0, 'no fetch still running');
    assert.deepEqual(await stores.leases.list(ctx), []);
    await assert.rejects(stores.images.get(ctx, REF), isNotFound);
    await stores.gc.collect();
    assert.deepEqual(await stores.content.list(ctx), []);
    assert.deepEqual(await stores.content.listStatuses(ctx), []);
    assert.deepEqual(await stores.snapshotter('native').list(ctx), []);
  });

  it('two pulls of one image at once both succeed, each blob written once', async () => {
    const { randomBytes } = await import('node:crypto');
    const img = await addImage(reg, [
      [fileEntry('a', randomBytes(200_000))],
      [fileEntry('b', randomBytes(200_000))],
    ]);
    reg.tag(REF, img.manifest);
    reg.chunk = 8 * 1024;
    const opts = { unpack: [{ snapshotter: 'native' }] };
    const [a, b] = await Promise.all([
      pull(ctx, stores, reg.resolver(), REF, opts),
      pull(ctx, stores, reg.resolver(), REF, { ...opts, name: `${REF}-copy` }),
    ]);
    assert.equal(a.target.digest, b.target.digest);
    const snaps = await stores.snapshotter('native').list(ctx);
    assert.deepEqual(snaps.map((s) => s.name).sort(), chainIds(img.diffIds).sort());
    assert.ok(snaps.every((s) => s.kind === 'committed'));
    for (const l of img.layers) {
      assert.ok(reg.fetchCount(l.desc.digest) <= 2);
      assert.equal((await stores.content.info(ctx, l.desc.digest)).size, l.desc.size);
    }
    assert.deepEqual(await stores.content.listStatuses(ctx), []);
    assert.deepEqual(await stores.leases.list(ctx), []);
  });

  it('pulls of one image into several namespaces at once all complete', async () => {
    const { randomBytes } = await import('node:crypto');
    const img = await addImage(reg, [
      [fileEntry('a', randomBytes(300_000))],
      [fileEntry('b', 'b')],
    ]);
    reg.tag(REF, img.manifest);
    reg.chunk = 8 * 1024;
    const nss = ['n1', 'n2', 'n3', 'n4'];
    await Promise.all(
      nss.map((ns) =>
        pull(ctxOf(ns), stores, reg.resolver(), REF, { unpack: [{ snapshotter: 'native' }] }),
      ),
    );
    for (const ns of nss) {
      const c = ctxOf(ns);
      assert.equal((await stores.images.get(c, REF)).target.digest, img.manifest.digest);
      for (const l of img.layers)
        assert.equal((await stores.content.info(c, l.desc.digest)).size, l.desc.size);
      assert.equal((await stores.snapshotter('native').list(c)).length, 2);
      assert.deepEqual(await stores.leases.list(c), []);
    }
  });

  it('fetches at most maxConcurrentDownloads blobs at once', async () => {
    const { randomBytes } = await import('node:crypto');
    const layers = Array.from({ length: 6 }, (_, i) => [fileEntry(`f${i}`, randomBytes(300_000))]);
    const img = await addImage(reg, layers);
    reg.tag(REF, img.manifest);
    reg.chunk = 8 * 1024;
    // Each fetch waits until two are active, so the limit is reached however
    // loaded the machine is; a pull without the limit starts all seven at once.
    reg.meetAt = 2;
    await pull(ctx, stores, reg.resolver(), REF, { maxConcurrentDownloads: 2 });
    assert.equal(reg.maxActive, 2);
    reg.maxActive = 0;
    await stores.images.delete(ctx, REF);
    await stores.gc.collect();
    reg.meetAt = 3;
    await pull(ctx, stores, reg.resolver(), REF);
    assert.equal(reg.maxActive, 3, 'default 3');
  });

  it('updates the target of an existing image record', async () => {
    const a = await addImage(reg, [[fileEntry('a', 'a')]], { label: 'a' });
    const b = await addImage(reg, [[fileEntry('a', 'b')]], { label: 'b' });
    reg.tag(REF, a.manifest);
    await pull(ctx, stores, reg.resolver(), REF);
    reg.tag(REF, b.manifest);
    const image = await pull(ctx, stores, reg.resolver(), REF);
    assert.equal(image.target.digest, b.manifest.digest);
    assert.equal((await stores.images.get(ctx, REF)).target.digest, b.manifest.digest);
  });
});
