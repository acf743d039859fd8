import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { ctxOf, imageStores, type TestStores } from '../../test/helpers/image-stores.js';
import { addImage, fileEntry, MemoryRegistry } from '../../test/helpers/memory-registry.js';
import { type TempDir, tempDir } from '../../test/helpers/tmp.js';
import type { Applier } from '../core/diff/index.js';
import { isNotFound } from '../core/errdefs/index.js';
import type { Resolver } from '../core/remotes/index.js';
import { chainIds } from './chain.js';
import { pull } from './pull.js';
import { isUnpacked } from './unpack.js';

const REF = '127.0.0.1:5000/test/stream:v1';
const ctx = ctxOf('default');

/** Layer blobs applied while they download: ordering and what a failure leaves. */
describe('pull: apply while the blob downloads', () => {
  let dir: TempDir;
  let stores: TestStores;
  let reg: MemoryRegistry;
  /** What happened, in order: `fetch-end <digest>`, `apply-stream <digest>`, `apply-store <digest>`, `commit <key>`. */
  let events: string[];

  beforeEach(() => {
    dir = tempDir('berth-pull-stream-');
    stores = imageStores(dir.path);
    reg = new MemoryRegistry();
    reg.chunk = 16 * 1024;
    events = [];
    const real = stores.applier;
    const spy: Applier = {
      apply: (c, desc, mounts, opts) => {
        events.push(`apply-store ${desc.digest}`);
        return real.apply(c, desc, mounts, opts);
      },
      applyFrom: (c, desc, mounts, source, opts) => {
        events.push(`apply-stream ${desc.digest}`);
        return real.applyFrom!(c, desc, mounts, source, opts);
      },
      warm: (desc) => real.warm?.(desc),
    };
    (stores as { applier: Applier }).applier = spy;
    const sn = stores.snapshotter('native');
    const commit = sn.commit.bind(sn);
    sn.commit = async (c, name, key, opts) => {
      events.push(`commit ${name}`);
      return commit(c, name, key, opts);
    };
  });
  afterEach(async () => {
    await stores.close();
    dir.remove();
  });

  /** The registry's resolver, noting when each blob's fetch has delivered its last byte. */
  function noting(): Resolver {
    const r = reg.resolver();
    return {
      ...r,
      fetcher: async (name) => {
        const f = await r.fetcher(name);
        return {
          fetch: async function* (desc, opts) {
            yield* f.fetch(desc, opts);
            events.push(`fetch-end ${desc.digest}`);
          },
        };
      },
    };
  }

  async function bigImage() {
    // Random bytes do not compress: a gzip layer beyond INLINE_MAX, inflated by an apply worker.
    const img = await addImage(reg, [
      [fileEntry('big', randomBytes(6 << 20))],
      [fileEntry('small', 'on top')],
    ]);
    reg.tag(REF, img.manifest);
    return img;
  }

  async function nothingLeft() {
    assert.deepEqual(await stores.leases.list(ctx), []);
    await assert.rejects(stores.images.get(ctx, REF), isNotFound);
    await stores.gc.collect();
    assert.deepEqual(await stores.snapshotter('native').list(ctx), [], 'no snapshot');
    assert.deepEqual(await stores.content.list(ctx), [], 'no blob record');
    assert.deepEqual(await stores.content.listStatuses(ctx), [], 'no ingest');
    const ingestDir = join(dir.path, 'content', 'ingest');
    assert.deepEqual(existsSync(ingestDir) ? readdirSync(ingestDir) : [], []);
  }

  it('starts the bottom layer’s apply before its fetch ends and commits its snapshot after the blob', async () => {
    const img = await bigImage();
    const bottom = img.layers[0]!.desc.digest;
    const chain = chainIds(img.diffIds);
    const commits: { chain: string; blob: boolean }[] = [];
    const sn = stores.snapshotter('native');
    const commit = sn.commit.bind(sn);
    sn.commit = async (c, name, key, opts) => {
      const layer = img.layers[chain.indexOf(name)]!.desc.digest;
      let blob = true;
      try {
        await stores.content.info(c, layer);
      } catch (err) {
        if (!isNotFound(err)) throw err;
        blob = false;
      }
      commits.push({ chain: name, blob });
      return commit(c, name, key, opts);
    };
    const image = await pull(ctx, stores, noting(), REF, { unpack: [{ snapshotter: 'native' }] });
    const applyAt = events.indexOf(`apply-stream ${bottom}`);
    const fetchEnd = events.indexOf(`fetch-end ${bottom}`);
    assert.ok(applyAt >= 0, `the bottom layer was applied from its download: ${events.join(', ')}`);
    assert.ok(fetchEnd > applyAt, `its apply started before its fetch ended: ${events.join(', ')}`);
    assert.deepEqual(
      commits.map((c) => c.chain),
      chain,
    );
    assert.ok(
      commits.every((c) => c.blob),
      'each snapshot committed after its blob',
    );
    assert.equal(await isUnpacked(ctx, stores, image, { snapshotter: 'native' }), true);
    const info = await stores.content.info(ctx, bottom);
    assert.equal(info.labels['containerd.io/uncompressed'], img.diffIds[0]);
    assert.equal(reg.fetchCount(bottom), 1);
  });

  it('a corrupted blob applied while it downloads leaves no snapshot and no content record', async () => {
    const img = await bigImage();
    const bottom = img.layers[0]!.desc.digest;
    reg.corrupt.add(bottom);
    await assert.rejects(
      pull(ctx, stores, noting(), REF, { unpack: [{ snapshotter: 'native' }] }),
    );
    assert.ok(events.includes(`apply-stream ${bottom}`), events.join(', '));
    assert.ok(!events.some((e) => e.startsWith('commit ')), 'no snapshot committed');
    await nothingLeft();
  });

  it('a cut download fails the apply reading it; a second pull resumes the ingest and applies from the store', async () => {
    const img = await bigImage();
    const bottom = img.layers[0]!.desc.digest;
    reg.cutAfter.set(bottom, 3 << 20);
    const lease = 'keep';
    await stores.leases.create(ctx, { id: lease });
    const leased = ctxOf('default', lease);
    await assert.rejects(
      pull(leased, stores, noting(), REF, { unpack: [{ snapshotter: 'native' }] }),
      /connection reset/,
    );
    assert.ok(events.includes(`apply-stream ${bottom}`), events.join(', '));
    assert.deepEqual(await stores.snapshotter('native').list(ctx), [], 'no snapshot');
    await assert.rejects(stores.content.info(ctx, bottom), isNotFound);
    const st = await stores.content.status(leased, `layer-${bottom}`);
    assert.ok(st.offset > 0, 'the partial ingest stays to be resumed');

    events = [];
    const image = await pull(leased, stores, noting(), REF, {
      unpack: [{ snapshotter: 'native' }],
    });
    const last = reg.fetched.filter((f) => f.digest === bottom).at(-1)!;
    assert.equal(last.offset, st.offset, 'resumed where the ingest stopped');
    assert.ok(
      events.indexOf(`apply-store ${bottom}`) > events.indexOf(`fetch-end ${bottom}`),
      `a resumed blob is applied from the store once in: ${events.join(', ')}`,
    );
    assert.equal(await isUnpacked(ctx, stores, image, { snapshotter: 'native' }), true);
    await stores.leases.delete(ctx, lease);
  });

  it('cancelled while the layer applies from its download: nothing is left once the lease is gone', async () => {
    const img = await bigImage();
    const bottom = img.layers[0]!.desc.digest;
    const ac = new AbortController();
    const r = reg.resolver();
    let seen = 0;
    const resolver: Resolver = {
      ...r,
      fetcher: async (name) => {
        const f = await r.fetcher(name);
        return {
          fetch: async function* (desc, opts) {
            for await (const chunk of f.fetch(desc, opts)) {
              if (desc.digest === bottom) {
                seen += chunk.length;
                // Half the blob in, its apply under way: stop the pull.
                if (seen > 3 << 20 && events.includes(`apply-stream ${bottom}`)) {
                  ac.abort(new Error('stop'));
                }
              }
              yield chunk;
            }
          },
        };
      },
    };
    await assert.rejects(
      pull({ ...ctx, signal: ac.signal }, stores, resolver, REF, {
        unpack: [{ snapshotter: 'native' }],
      }),
      /stop|abort/i,
    );
    assert.ok(ac.signal.aborted, 'the pull was stopped mid-download');
    assert.equal(reg.active, 0, 'no fetch still running');
    assert.ok(!events.some((e) => e.startsWith('commit ')), 'no snapshot committed');
    await nothingLeft();
  });
});
