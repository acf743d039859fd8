import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type TempDir, tempDir } from '../../test/helpers/tmp.js';
import { LocalContentStore } from '../content/index.js';
import {
  isAlreadyExists,
  isCanceled,
  isFailedPrecondition,
  isNotFound,
} from '../core/errdefs/index.js';
import { nullLogger } from '../core/log/index.js';
import type { Mount } from '../core/mount/index.js';
import type { OpContext } from '../core/namespaces/index.js';
import { NativeSnapshotter } from '../snapshots/native.js';
import { MetadataContentStore } from './content.js';
import { MetadataDB } from './db.js';
import { MetadataGc } from './gc.js';
import { SqliteLeaseManager } from './leases.js';
import { MIGRATIONS } from './migrations.js';
import { MetadataSnapshotter } from './snapshots.js';

const REF = 'containerd.io/snapshot.ref';
const ctxOf = (
  namespace: string,
  opts: { lease?: string; signal?: AbortSignal } = {},
): OpContext => ({
  namespace,
  ...(opts.lease && { lease: opts.lease }),
  signal: opts.signal ?? new AbortController().signal,
  log: nullLogger,
});
/** Chain IDs of a made-up image, base first. */
const chain = ['l1', 'l2', 'l3'].map(
  (l) => `sha256:${createHash('sha256').update(l).digest('hex')}`,
);
const [c1, c2, c3] = chain as [string, string, string];
let unique = 0;
const unpackKey = (chainID: string) => `extract-${++unique}-x ${chainID}`;

function dirOf(mounts: readonly Mount[]): string {
  assert.equal(mounts.length, 1);
  assert.equal(mounts[0]?.type, 'bind');
  return mounts[0].source;
}

/** Settles to 'pending' if `p` has not settled after a few turns. */
async function state(p: Promise<unknown>): Promise<'pending' | 'settled'> {
  const settled = () => 'settled' as const;
  return Promise.race([p.then(settled, settled), sleep(30).then(() => 'pending' as const)]);
}

describe('MetadataSnapshotter: a layer unpacked once across namespaces', () => {
  let dir: TempDir;
  let mdb: MetadataDB;
  let backend: NativeSnapshotter;
  let sn: MetadataSnapshotter;
  let gc: MetadataGc;
  let leases: SqliteLeaseManager;
  const a = ctxOf('a');
  const b = ctxOf('b');
  const backendKeys = async () => (await backend.list(a)).map((i) => i.name).sort();
  const names = async (c: OpContext) => (await sn.list(c)).map((i) => i.name).sort();

  /** Writes the layer's one file into an active snapshot and commits it as `chainID`. */
  async function extract(c: OpContext, key: string, mounts: Mount[], chainID: string) {
    writeFileSync(join(dirOf(mounts), chainID.slice(7, 15)), `${c.namespace} wrote ${chainID}`);
    await sn.commit(c, chainID, key);
  }

  /**
   * ctr 1.6's unpack (rootfs.ApplyLayerWithOpts): Stat the chain ID, skip
   * it if found, else Prepare `extract-… <chainID>` without labels, Apply,
   * Commit. Returns the layers it extracted.
   */
  async function unpack16(c: OpContext, layers = chain): Promise<number> {
    let applied = 0;
    for (const [i, chainID] of layers.entries()) {
      try {
        await sn.stat(c, chainID);
        continue;
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      const key = unpackKey(chainID);
      await extract(c, key, await sn.prepare(c, key, layers[i - 1] ?? ''), chainID);
      applied++;
    }
    return applied;
  }

  /** containerd 1.7's and berth's unpack: Prepare labelled with the target; already_exists skips. */
  async function unpackLabelled(c: OpContext, layers = chain): Promise<number> {
    let applied = 0;
    for (const [i, chainID] of layers.entries()) {
      const key = unpackKey(chainID);
      let mounts: Mount[];
      try {
        mounts = await sn.prepare(c, key, layers[i - 1] ?? '', { labels: { [REF]: chainID } });
      } catch (err) {
        if (!isAlreadyExists(err)) throw err;
        await sn.stat(c, chainID);
        continue;
      }
      await extract(c, key, mounts, chainID);
      applied++;
    }
    return applied;
  }

  beforeEach(() => {
    dir = tempDir();
    mdb = new MetadataDB({ path: join(dir.path, 'meta.db') });
    backend = new NativeSnapshotter(join(dir.path, 'native'));
    sn = new MetadataSnapshotter(mdb, 'native', backend, () => gc.schedule());
    const content = new MetadataContentStore(mdb, new LocalContentStore(join(dir.path, 'content')));
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
  });
  afterEach(async () => {
    await gc.close();
    backend.close();
    mdb.close();
    dir.remove();
  });

  it('a labelled Prepare of a target committed elsewhere records it and answers already_exists', async () => {
    assert.equal(await unpackLabelled(a), 3);
    await assert.rejects(sn.prepare(b, unpackKey(c1), '', { labels: { [REF]: c1 } }), (err) => {
      assert.ok(isAlreadyExists(err));
      assert.match((err as Error).message, new RegExp(`target snapshot "${c1}" from snapshotter`));
      return true;
    });
    // A labelled View is answered the same way (containerd's createSnapshot serves both).
    const c = ctxOf('c');
    await assert.rejects(sn.view(c, 'view-1', '', { labels: { [REF]: c1 } }), isAlreadyExists);
    assert.equal((await sn.stat(c, c1)).kind, 'committed');
    await assert.rejects(sn.stat(c, 'view-1'), isNotFound);
    assert.equal(await unpackLabelled(b), 0, 'nothing extracted again');
    assert.deepEqual(await names(b), [...chain].sort());
    assert.equal((await backendKeys()).length, 3, 'one backend snapshot per layer');
    const top = await sn.stat(b, c3);
    assert.equal(top.kind, 'committed');
    assert.equal(top.parent, c2);
    assert.equal(top.labels[REF], c3);
    // A view on top of the shared chain sees every layer.
    const view = dirOf(await sn.view(b, 'v', c3));
    assert.deepEqual(readdirSync(view).sort(), chain.map((c) => c.slice(7, 15)).sort());
    assert.equal(readFileSync(join(view, c1.slice(7, 15)), 'utf8'), `a wrote ${c1}`);
    assert.deepEqual(await sn.usage(b, c1), await sn.usage(a, c1));
  });

  it("ctr 1.6's unpack (Stat, then unlabelled Prepare) finds the layers another namespace unpacked", async () => {
    assert.equal(await unpack16(a), 3);
    assert.equal(await unpack16(b), 0);
    assert.equal(await unpack16(ctxOf('c')), 0);
    assert.equal((await backendKeys()).length, 3);
    assert.deepEqual(await names(ctxOf('c')), [...chain].sort());
    // Prepare with its own key on a shared layer: an ordinary active snapshot.
    const rw = dirOf(await sn.prepare(b, 'rw', c3));
    assert.equal(readFileSync(join(rw, c2.slice(7, 15)), 'utf8'), `a wrote ${c2}`);
    assert.equal((await backendKeys()).length, 4);
  });

  it('waits while another namespace extracts the target, then shares it (Stat and labelled Prepare)', async () => {
    const key = unpackKey(c1);
    const mounts = await sn.prepare(a, key, '', { labels: { [REF]: c1 } });
    const stat = sn.stat(b, c1);
    const prepare = sn.prepare(ctxOf('c'), unpackKey(c1), '', { labels: { [REF]: c1 } });
    assert.equal(await state(stat), 'pending');
    assert.equal(await state(prepare), 'pending');
    await extract(a, key, mounts, c1);
    assert.equal((await stat).kind, 'committed');
    await assert.rejects(prepare, isAlreadyExists);
    assert.equal((await sn.stat(ctxOf('c'), c1)).kind, 'committed');
    assert.equal((await backendKeys()).length, 1);
  });

  it("a Stat that misses a chain ID claims it: a second namespace waits for the first one's extraction", async () => {
    const applied = await Promise.all([unpack16(a), unpack16(b), unpack16(ctxOf('c'))]);
    assert.equal(
      applied.reduce((x, y) => x + y),
      3,
      `each layer extracted once (${applied.join(', ')})`,
    );
    assert.equal((await backendKeys()).length, 3);
  });

  it('a claim that no Prepare follows lapses', async () => {
    await assert.rejects(sn.stat(a, c1), isNotFound);
    const started = Date.now();
    await assert.rejects(sn.stat(b, c1), isNotFound);
    assert.ok(Date.now() - started >= 1_500, 'waited for the claim');
  });

  it('when the extracting namespace removes its snapshot, the waiter carries on with its own', async () => {
    const key = unpackKey(c1);
    await sn.prepare(a, key, '', { labels: { [REF]: c1 } });
    const stat = sn.stat(b, c1);
    assert.equal(await state(stat), 'pending');
    await sn.remove(a, key);
    await assert.rejects(stat, isNotFound);
    assert.equal(await unpack16(b, [c1]), 1);
    assert.deepEqual(await names(a), []);
    assert.equal((await backendKeys()).length, 1);
  });

  it("a waiter's signal ends its wait; nothing is recorded", async () => {
    const key = unpackKey(c1);
    const mounts = await sn.prepare(a, key, '', { labels: { [REF]: c1 } });
    const ac = new AbortController();
    const stat = sn.stat(ctxOf('b', { signal: ac.signal }), c1);
    const prepare = sn.prepare(ctxOf('b', { signal: ac.signal }), unpackKey(c1), '', {
      labels: { [REF]: c1 },
    });
    assert.equal(await state(stat), 'pending');
    ac.abort();
    await assert.rejects(stat, isCanceled);
    await assert.rejects(prepare, isCanceled);
    await extract(a, key, mounts, c1);
    assert.deepEqual(await names(b), []);
  });

  it('shares only on the same parent chain', async () => {
    assert.equal(await unpack16(a), 3);
    // b extracted its own base layer (not as an unpack target): its l2 is its own.
    const key = 'mine';
    writeFileSync(join(dirOf(await sn.prepare(b, key)), 'x'), 'b');
    await sn.commit(b, c1, key);
    await assert.rejects(sn.stat(b, c2), isNotFound);
    const mounts = await sn.prepare(b, unpackKey(c2), c1, { labels: { [REF]: c2 } });
    assert.equal(dirOf(mounts).length > 0, true);
    // c has no parent: not_found, as for any missing parent (unpackers unpack it first).
    const c = ctxOf('c');
    await assert.rejects(sn.stat(c, c2), isNotFound);
    await assert.rejects(sn.prepare(c, unpackKey(c2), c1, { labels: { [REF]: c2 } }), isNotFound);
    // A committed snapshot that was not an unpack of that name is never shared.
    writeFileSync(join(dirOf(await sn.prepare(b, 'plain')), 'y'), 'b');
    await sn.commit(b, 'sha256:plain', 'plain');
    await assert.rejects(sn.stat(c, 'sha256:plain'), isNotFound);
  });

  it('removing in one namespace keeps the backend snapshot the other records; the last removal frees it', async () => {
    await unpack16(a);
    await unpack16(b);
    await sn.view(b, 'v', c3);
    for (const c of [c3, c2, c1]) await sn.remove(a, c);
    assert.deepEqual(await names(a), []);
    assert.equal((await backendKeys()).length, 4);
    assert.equal(readdirSync(dirOf(await sn.mounts(b, 'v'))).length, 3);
    await assert.rejects(sn.remove(b, c3), isFailedPrecondition, 'the view is its child');
    await sn.remove(b, 'v');
    for (const c of [c3, c2, c1]) await sn.remove(b, c);
    assert.deepEqual(await backendKeys(), []);
    assert.deepEqual(readdirSync(join(dir.path, 'native', 'snapshots')), []);
  });

  it('garbage collection removes a shared backend snapshot only with the last record', async () => {
    await leases.create(a, { id: 'pull' });
    await leases.create(b, { id: 'pull' });
    assert.equal(await unpack16(ctxOf('a', { lease: 'pull' })), 3);
    assert.equal(await unpack16(ctxOf('b', { lease: 'pull' })), 0);
    await gc.collect();
    assert.equal((await backendKeys()).length, 3);
    await leases.delete(a, 'pull', { sync: true });
    assert.deepEqual(await names(a), []);
    assert.deepEqual(await names(b), [...chain].sort());
    assert.equal((await backendKeys()).length, 3);
    await leases.delete(b, 'pull', { sync: true });
    assert.deepEqual(await names(b), []);
    assert.deepEqual(await backendKeys(), []);
  });

  it("after a restart, records agree with the backend and an old active snapshot is nobody's extraction", async () => {
    await unpack16(a, [c1]);
    await unpack16(b, [c1]);
    await sn.prepare(a, unpackKey(c2), c1);
    backend.close();
    mdb.close();
    mdb = new MetadataDB({ path: join(dir.path, 'meta.db') });
    backend = new NativeSnapshotter(join(dir.path, 'native'));
    sn = new MetadataSnapshotter(mdb, 'native', backend, () => gc.schedule());
    assert.equal((await sn.stat(b, c1)).kind, 'committed');
    const started = Date.now();
    await assert.rejects(sn.stat(b, c2), isNotFound);
    assert.ok(Date.now() - started < 1_000, 'no wait for the active snapshot a crash left');
    assert.equal(await unpack16(b, [c1, c2]), 1);
    assert.equal((await backendKeys()).length, 3);
  });

  it('migration 4 keeps existing snapshots (no target: never shared) and lets backend keys repeat', async () => {
    const old = tempDir();
    try {
      const path = join(old.path, 'meta.db');
      const v3 = new MetadataDB({ path, migrations: MIGRATIONS.filter((m) => m.version <= 3) });
      v3.db.prepare(`INSERT INTO namespaces (name, created_at) VALUES ('a', 0), ('b', 0)`).run();
      v3.db
        .prepare(
          `INSERT INTO snapshots (namespace, snapshotter, key, backend_id, kind, created_at, updated_at)
           VALUES ('a', 'native', ?, 'a/1/x', 'committed', 0, 0)`,
        )
        .run(c1);
      v3.close();
      const v4 = new MetadataDB({ path });
      try {
        assert.equal(v4.schemaVersion, 4);
        const row = v4.db.prepare('SELECT target FROM snapshots').get() as { target: string };
        assert.equal(row.target, '');
        v4.db
          .prepare(
            `INSERT INTO snapshots (namespace, snapshotter, key, backend_id, kind, created_at, updated_at, target)
             VALUES ('b', 'native', ?, 'a/1/x', 'committed', 0, 0, ?)`,
          )
          .run(c1, c1);
      } finally {
        v4.close();
      }
    } finally {
      old.remove();
    }
  });
});
