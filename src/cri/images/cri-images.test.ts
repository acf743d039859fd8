import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { ctxOf, imageStores, type TestStores } from '../../../test/helpers/image-stores.js';
import {
  addImage,
  addIndex,
  fileEntry,
  MemoryRegistry,
  type TestImage,
} from '../../../test/helpers/memory-registry.js';
import { type TempDir, tempDir } from '../../../test/helpers/tmp.js';
import { isInvalidArgument, isNotFound } from '../../core/errdefs/index.js';
import type { OpContext } from '../../core/namespaces/index.js';
import { defaultString } from '../../core/platforms/index.js';
import { CRI_NAMESPACE, type CriImageOps, CriImages, loadCriImageOps } from './cri-images.js';
import { toCriImage } from './service.js';

const REPO = '127.0.0.1:5000/cri/app';
const ctx = ctxOf(CRI_NAMESPACE);
const HOST = defaultString();
const OTHER =
  HOST === 'linux/arm64/v8' || HOST === 'linux/arm64' ? 'linux/amd64' : 'linux/arm64/v8';

function caller(): { ctx: OpContext; abort: () => void } {
  const ac = new AbortController();
  return {
    ctx: { ...ctxOf(''), signal: ac.signal },
    abort: () => ac.abort(new Error('cancelled')),
  };
}

describe('CriImages over a registry in memory', () => {
  let dir: TempDir;
  let stores: TestStores;
  let reg: MemoryRegistry;
  let a: TestImage;
  let b: TestImage;

  const make = (ops?: () => Promise<CriImageOps>) =>
    new CriImages({
      stores,
      gc: stores.gc,
      snapshotter: 'native',
      sandboxImage: 'registry.k8s.io/pause:3.6',
      registry: { configPath: '', auths: {}, headers: {} },
      maxConcurrentDownloads: 2,
      log: ctx.log,
      ops:
        ops ?? (async () => ({ ...(await loadCriImageOps()), newResolver: () => reg.resolver() })),
    });

  beforeEach(async () => {
    dir = tempDir('berth-cri-images-');
    stores = imageStores(dir.path);
    reg = new MemoryRegistry();
    a = await addImage(reg, [[fileEntry('a', 'image a')]], { platform: HOST });
    b = await addImage(reg, [[fileEntry('b', 'image b')]], { platform: HOST });
  });
  afterEach(async () => {
    await stores.close();
    dir.remove();
  });

  const names = async () => (await stores.images.list(ctx)).map((r) => r.name).sort();

  it('moves a tag to the image it names now; the old image keeps its digest and ID', async () => {
    const images = make();
    reg.tag(`${REPO}:1`, a.manifest);
    assert.equal(await images.pull(ctx, `${REPO}:1`), a.config.digest);
    reg.tag(`${REPO}:1`, b.manifest);
    assert.equal(await images.pull(ctx, `${REPO}:1`), b.config.digest);
    const list = (await images.list(ctx)).map(toCriImage).sort((x, y) => (x.id < y.id ? -1 : 1));
    const byId = new Map(list.map((i) => [i.id, i]));
    assert.deepEqual(byId.get(a.config.digest)?.repoTags, []);
    assert.deepEqual(byId.get(a.config.digest)?.repoDigests, [`${REPO}@${a.manifest.digest}`]);
    assert.deepEqual(byId.get(b.config.digest)?.repoTags, [`${REPO}:1`]);
    assert.equal((await images.resolve(ctx, `${REPO}:1`)).id, b.config.digest);
  });

  it('records only the digest and the ID for a pull by digest', async () => {
    const images = make();
    reg.tag(`${REPO}@${a.manifest.digest}`, a.manifest);
    await images.pull(ctx, `${REPO}@${a.manifest.digest}`);
    assert.deepEqual(await names(), [`${REPO}@${a.manifest.digest}`, a.config.digest].sort());
    const img = toCriImage(await images.resolve(ctx, a.config.digest));
    assert.deepEqual(img.repoTags, []);
    assert.deepEqual(img.repoDigests, [`${REPO}@${a.manifest.digest}`]);
  });

  it("counts records made by others, and leaves out images without the host's platform", async () => {
    const images = make();
    reg.tag(`${REPO}:1`, a.manifest);
    await images.pull(ctx, `${REPO}:1`);
    // An import's record under a name that is no reference.
    await stores.images.create(ctx, { name: 'import-2024-01-01', target: a.manifest, labels: {} });
    const img = await images.resolve(ctx, a.config.digest);
    assert.ok(img.references.includes('import-2024-01-01'));
    assert.deepEqual(toCriImage(img).repoTags, [`${REPO}:1`]);
    // Another platform only: fetched by someone, but no image for this host.
    const foreign = await addImage(reg, [[fileEntry('f', 'foreign')]], { platform: OTHER });
    const idx = addIndex(reg, [foreign]);
    await stores.images.create(ctx, { name: `${REPO}:foreign`, target: idx, labels: {} });
    assert.equal((await images.list(ctx)).length, 1);
    await assert.rejects(images.resolve(ctx, `${REPO}:foreign`), isNotFound);
    assert.equal(await images.find(ctx, `${REPO}:foreign`), undefined);
  });

  it('sees an image whose record came before its content once a pull brings the content', async () => {
    const images = make();
    await stores.images.create(ctx, { name: 'early', target: a.manifest, labels: {} });
    assert.deepEqual(await images.list(ctx), [], 'no content yet: no image');
    reg.tag(`${REPO}:1`, a.manifest);
    assert.equal(await images.pull(ctx, `${REPO}:1`), a.config.digest);
    const [img] = await images.list(ctx);
    assert.ok(img?.references.includes('early'));
  });

  it('refuses a reference that is none', async () => {
    await assert.rejects(make().pull(ctx, 'Not/A Ref'), isInvalidArgument);
  });

  it('shares a pull until the last caller gives up', async () => {
    let started = 0;
    let pullSignal: AbortSignal | undefined;
    const blocking = async (): Promise<CriImageOps> => ({
      ...(await loadCriImageOps()),
      newResolver: () => reg.resolver(),
      pull: (pctx) => {
        started++;
        pullSignal = pctx.signal;
        return new Promise((_, reject) =>
          pctx.signal.addEventListener('abort', () => reject(pctx.signal.reason)),
        );
      },
    });
    const images = make(blocking);
    const one = caller();
    const two = caller();
    const p1 = images.pull(one.ctx, `${REPO}:1`);
    const p2 = images.pull(two.ctx, `${REPO}:1`);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(started, 1);
    one.abort();
    await assert.rejects(p1, /cancelled/);
    assert.equal(pullSignal?.aborted, false, 'the other caller still waits');
    two.abort();
    await assert.rejects(p2, /cancelled/);
    assert.equal(pullSignal?.aborted, true);
    // A new pull after that starts afresh.
    const three = caller();
    const p3 = images.pull(three.ctx, `${REPO}:1`);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(started, 2);
    three.abort();
    await assert.rejects(p3, /cancelled/);
  });
});
