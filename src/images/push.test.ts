import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { ctxOf, imageStores, type TestStores } from '../../test/helpers/image-stores.js';
import {
  addImage,
  addIndex,
  addLayer,
  fileEntry,
  MemoryRegistry,
  type TestImage,
} from '../../test/helpers/memory-registry.js';
import { type TempDir, tempDir } from '../../test/helpers/tmp.js';
import { isNotFound } from '../core/errdefs/index.js';
import type { Progress } from '../core/transfer/index.js';
import { pull } from './pull.js';
import { push } from './push.js';

const SRC = '127.0.0.1:5000/test/app:v1';
const DEST = '127.0.0.1:5000/dest/app:v2';
const ctx = ctxOf('default');

describe('push', () => {
  let dir: TempDir;
  let stores: TestStores;
  let reg: MemoryRegistry;
  let imgs: TestImage[];

  beforeEach(async () => {
    dir = tempDir('berth-images-');
    stores = imageStores(dir.path);
    reg = new MemoryRegistry();
    imgs = [];
    for (const p of ['linux/amd64', 'linux/arm64/v8']) {
      imgs.push(
        await addImage(reg, [[fileEntry('a', `a ${p}`)], [fileEntry('b', `b ${p}`)]], {
          platform: p,
        }),
      );
    }
    reg.tag(SRC, addIndex(reg, imgs));
    for (const d of reg.blobs.keys()) reg.repos.set(d, new Set(['127.0.0.1:5000/test/app']));
  });
  afterEach(async () => {
    await stores.close();
    dir.remove();
  });

  it('pushes children before parents, mounting blobs from their source repository', async () => {
    const image = await pull(ctx, stores, reg.resolver(), SRC, { allPlatforms: true });
    const events: Progress[] = [];
    await push(ctx, stores, reg.resolver(), DEST, image, { onProgress: (p) => events.push(p) });
    const order = reg.pushes.map((p) => p.desc.digest);
    const pos = (d: string) => order.indexOf(d);
    const index = image.target.digest;
    assert.equal(order.at(-1), index, 'the index last');
    for (const img of imgs) {
      assert.ok(pos(img.manifest.digest) >= 0);
      for (const d of [img.config.digest, ...img.layers.map((l) => l.desc.digest)]) {
        assert.ok(pos(d) >= 0 && pos(d) < pos(img.manifest.digest), `${d} before its manifest`);
      }
      assert.ok(pos(img.manifest.digest) < pos(index));
    }
    for (const p of reg.pushes) {
      assert.equal(p.ref, DEST);
      assert.deepEqual(p.mountFrom, ['test/app'], p.desc.digest);
      assert.equal(p.mounted, true, `${p.desc.mediaType} ${JSON.stringify(p.mountFrom)}`);
    }
    assert.equal(reg.pushes.length, 1 + 2 * 4);
    assert.ok(events.some((e) => e.event === 'complete'));
    assert.ok(events.some((e) => e.event === 'pushed content'));
  });

  it('uploads without mount candidates, and finds what the registry already has', async () => {
    const image = await pull(ctx, stores, reg.resolver(), SRC, { allPlatforms: true });
    // Labels key on the host name without port (as containerd's): another name has no candidates.
    const other = 'localhost:5000/x/y:z';
    await push(ctx, stores, reg.resolver(), other, image);
    assert.ok(reg.pushes.every((p) => p.mountFrom.length === 0 && !p.mounted));
    const n = reg.pushes.length;
    const events: Progress[] = [];
    await push(ctx, stores, reg.resolver(), other, image, { onProgress: (p) => events.push(p) });
    assert.equal(reg.pushes.length, 2 * n);
    assert.equal(events.filter((e) => e.event === 'already exists').length, n);
  });

  it('leaves non-distributable layers out unless allowed', async () => {
    const base = await addLayer(reg, [fileEntry('base', 'foreign base')]);
    const foreign = {
      ...base.desc,
      mediaType: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
    };
    const config = reg.addJson(
      { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [base.diffId] } },
      'application/vnd.docker.container.image.v1+json',
    );
    const manifest = reg.addJson(
      {
        schemaVersion: 2,
        mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
        config,
        layers: [foreign],
      },
      'application/vnd.docker.distribution.manifest.v2+json',
    );
    reg.tag(SRC, manifest);
    const image = await pull(ctx, stores, reg.resolver(), SRC);
    const other = 'localhost:5000/x/foreign:1';
    await push(ctx, stores, reg.resolver(), other, image);
    assert.deepEqual(
      reg.pushes.map((p) => p.desc.digest),
      [config.digest, manifest.digest],
    );
    await push(ctx, stores, reg.resolver(), other, image, { allowNonDistributable: true });
    assert.ok(reg.pushes.slice(2).some((p) => p.desc.digest === base.desc.digest));
  });

  it('pushes only the named platform’s manifest and blobs', async () => {
    const image = await pull(ctx, stores, reg.resolver(), SRC, { allPlatforms: true });
    await push(ctx, stores, reg.resolver(), DEST, image, { platforms: ['linux/arm64'] });
    const pushed = new Set(reg.pushes.map((p) => p.desc.digest));
    assert.ok(pushed.has(imgs[1]!.manifest.digest));
    assert.ok(!pushed.has(imgs[0]!.manifest.digest));
    assert.ok(!pushed.has(imgs[0]!.config.digest));
  });

  it('pushes what a one-platform pull has by default; allPlatforms needs every blob', async () => {
    const image = await pull(ctx, stores, reg.resolver(), SRC, { platforms: ['linux/amd64'] });
    await push(ctx, stores, reg.resolver(), DEST, image);
    const pushed = new Set(reg.pushes.map((p) => p.desc.digest));
    assert.ok(pushed.has(imgs[0]!.manifest.digest) && !pushed.has(imgs[1]!.manifest.digest));
    await assert.rejects(
      push(ctx, stores, reg.resolver(), DEST, image, { allPlatforms: true }),
      isNotFound,
    );
  });
});
