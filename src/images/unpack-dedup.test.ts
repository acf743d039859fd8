/**
 * Concurrent pulls of images that share layers: each shared layer is
 * fetched once and applied once (the unpack lock per snapshotter and chain
 * ID, the fetch lock per blob), a pull that gives up while waiting for that
 * lock stops, and a failed fetch or unpack lets the waiting one do the work.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { ctxOf, imageStores, type TestStores } from '../../test/helpers/image-stores.js';
import {
  addImage,
  fileEntry,
  MemoryRegistry,
  type TestImage,
} from '../../test/helpers/memory-registry.js';
import { type TempDir, tempDir } from '../../test/helpers/tmp.js';
import type { Descriptor } from '../core/content/index.js';
import type { Applier } from '../core/diff/index.js';
import { isNotFound } from '../core/errdefs/index.js';
import type { Mount } from '../core/mount/index.js';
import type { OpContext } from '../core/namespaces/index.js';
import { chainIds } from './chain.js';
import { pull } from './pull.js';

/**
 * Wraps the stores' real applier: counts Apply calls by layer digest, and
 * lets a test stop the first Apply of one layer until it says go (or fail).
 */
class CountingApplier implements Applier {
  readonly calls = new Map<string, number>();
  /** Each Apply takes at least this long, so that concurrent ones overlap. */
  delayMs = 0;
  #gate:
    | { digest: string; entered: () => void; wait: Promise<void>; open?: (err?: Error) => void }
    | undefined;

  constructor(private readonly inner: Applier) {}

  /** The next Apply of `digest` waits; resolves when it has started, with a function to let it go or fail. */
  holdNext(digest: string): Promise<(err?: Error) => void> {
    return new Promise((started) => {
      let open!: (err?: Error) => void;
      const wait = new Promise<void>((resolve, reject) => {
        open = (err) => (err ? reject(err) : resolve());
      });
      this.#gate = { digest, wait, entered: () => started(open) };
    });
  }

  count(digest: string): number {
    return this.calls.get(digest) ?? 0;
  }

  async apply(ctx: OpContext, desc: Descriptor, mounts: Mount[]): Promise<Descriptor> {
    this.calls.set(desc.digest, this.count(desc.digest) + 1);
    const gate = this.#gate;
    if (gate?.digest === desc.digest) {
      this.#gate = undefined;
      gate.entered();
      await gate.wait;
    }
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    return this.inner.apply(ctx, desc, mounts);
  }

  warm(desc: Descriptor): void {
    this.inner.warm?.(desc);
  }
}

const OPTS = { unpack: [{ snapshotter: 'native' }] };

describe('concurrent unpacks of shared layers', () => {
  let dir: TempDir;
  let stores: TestStores;
  let applier: CountingApplier;
  let reg: MemoryRegistry;
  let base: TestImage;
  let images: TestImage[];
  const refs = ['app-a', 'app-b', 'app-c'].map((n) => `127.0.0.1:5000/test/${n}:v1`);

  beforeEach(async () => {
    dir = tempDir('berth-unpack-dedup-');
    stores = imageStores(dir.path);
    applier = new CountingApplier(stores.applier);
    stores.applier = applier;
    reg = new MemoryRegistry();
    reg.chunk = 16 * 1024;
    // Three images on one two-layer base, each with its own top layer.
    const baseLayers = [[fileEntry('base', randomBytes(400_000))], [fileEntry('lib', 'lib')]];
    base = await addImage(reg, baseLayers);
    images = [];
    for (const [i, ref] of refs.entries()) {
      const img = await addImage(reg, [...baseLayers, [fileEntry('app', `app ${i}`)]]);
      reg.tag(ref, img.manifest);
      images.push(img);
    }
  });
  afterEach(async () => {
    await stores.close();
    dir.remove();
  });

  const shared = () => base.layers.map((l) => l.desc.digest);

  async function assertUnpacked(ctx: OpContext) {
    const snaps = await stores.snapshotter('native').list(ctx);
    const want = new Set(images.flatMap((img) => chainIds(img.diffIds)));
    assert.deepEqual(new Set(snaps.map((s) => s.name)), want);
    assert.ok(
      snaps.every((s) => s.kind === 'committed'),
      'no extraction snapshot left',
    );
    assert.deepEqual(await stores.leases.list(ctx), []);
  }

  it('three pulls at once in one namespace fetch and apply each shared layer once', async () => {
    applier.delayMs = 50;
    const ctx = ctxOf('default');
    await Promise.all(refs.map((ref) => pull(ctx, stores, reg.resolver(), ref, OPTS)));
    for (const d of shared()) {
      assert.equal(applier.count(d), 1, `shared layer ${d} applied once`);
      assert.equal(reg.fetchCount(d), 1, `shared layer ${d} fetched once`);
    }
    for (const img of images) assert.equal(applier.count(img.layers[2]!.desc.digest), 1);
    await assertUnpacked(ctx);
  });

  it('three pulls at once in three namespaces apply each shared layer once', async () => {
    applier.delayMs = 50;
    const nss = ['n1', 'n2', 'n3'];
    await Promise.all(refs.map((ref, i) => pull(ctxOf(nss[i]), stores, reg.resolver(), ref, OPTS)));
    for (const d of shared()) assert.equal(applier.count(d), 1, `shared layer ${d} applied once`);
    for (const [i, ns] of nss.entries()) {
      const snaps = await stores.snapshotter('native').list(ctxOf(ns));
      assert.deepEqual(new Set(snaps.map((s) => s.name)), new Set(chainIds(images[i]!.diffIds)));
      for (const l of images[i]!.layers) {
        assert.equal((await stores.content.info(ctxOf(ns), l.desc.digest)).size, l.desc.size);
      }
    }
  });

  it('a pull that gives up while another unpacks the shared layer stops; the other completes', async () => {
    const ctx = ctxOf('default');
    const [baseDigest] = shared();
    const held = applier.holdNext(baseDigest!);
    const first = pull(ctx, stores, reg.resolver(), refs[0]!, OPTS);
    const go = await held;
    const ac = new AbortController();
    const second = pull({ ...ctx, signal: ac.signal }, stores, reg.resolver(), refs[1]!, OPTS);
    // The second fetches its manifest and config, then waits for the base layer's lock.
    while (reg.fetchCount(images[1]!.config.digest) === 0)
      await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 50));
    ac.abort(new Error('caller gave up'));
    await assert.rejects(second, /caller gave up/);
    go();
    await first;
    assert.equal(applier.count(baseDigest!), 1, 'the base layer applied once');
    assert.equal(applier.count(images[1]!.layers[2]!.desc.digest), 0, 'the second applied nothing');
    await assert.rejects(stores.images.get(ctx, refs[1]!), isNotFound);
    const snaps = await stores.snapshotter('native').list(ctx);
    assert.deepEqual(new Set(snaps.map((s) => s.name)), new Set(chainIds(images[0]!.diffIds)));
    assert.deepEqual(await stores.leases.list(ctx), []);
  });

  it('when the fetch of a shared blob fails, the pull waiting for it fetches it itself', async () => {
    const ctx = ctxOf('default');
    const [baseDigest] = shared();
    reg.chunk = 1024;
    reg.corrupt.add(baseDigest!);
    const first = pull(ctx, stores, reg.resolver(), refs[0]!, OPTS);
    while (reg.fetchCount(baseDigest!) === 0) await new Promise((r) => setTimeout(r, 2));
    reg.corrupt.delete(baseDigest!); // the first's stream is corrupt, the next one is not
    const second = pull(ctx, stores, reg.resolver(), refs[1]!, OPTS);
    await assert.rejects(first, /digest|sha256/i);
    const image = await second;
    assert.equal(image.name, refs[1]);
    assert.equal(reg.fetchCount(baseDigest!), 2, 'fetched again after the failure');
    assert.equal(applier.count(baseDigest!), 1);
    const snaps = await stores.snapshotter('native').list(ctx);
    assert.deepEqual(new Set(snaps.map((s) => s.name)), new Set(chainIds(images[1]!.diffIds)));
    assert.deepEqual(await stores.content.listStatuses(ctx), []);
    assert.deepEqual(await stores.leases.list(ctx), []);
  });

  it('when the unpack holding a shared layer fails, the waiting one applies it', async () => {
    const ctx = ctxOf('default');
    const [baseDigest] = shared();
    const held = applier.holdNext(baseDigest!);
    const first = pull(ctx, stores, reg.resolver(), refs[0]!, OPTS);
    const fail = await held;
    const second = pull(ctx, stores, reg.resolver(), refs[1]!, OPTS);
    while (reg.fetchCount(images[1]!.config.digest) === 0)
      await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 50));
    fail(new Error('disk on fire'));
    await assert.rejects(first, /disk on fire/);
    const image = await second;
    assert.equal(image.name, refs[1]);
    assert.equal(applier.count(baseDigest!), 2, 'failed once, then applied by the second');
    const snaps = await stores.snapshotter('native').list(ctx);
    assert.deepEqual(new Set(snaps.map((s) => s.name)), new Set(chainIds(images[1]!.diffIds)));
    assert.ok(
      snaps.every((s) => s.kind === 'committed'),
      'the failed extraction was removed',
    );
    assert.deepEqual(await stores.leases.list(ctx), []);
  });
});
