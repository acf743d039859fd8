/**
 * The snapshotter conformance suite: one set of cases for every
 * {@link Snapshotter} (the overlayfs and native backends, the namespaced
 * metadata snapshotter, the gRPC service through a socket), modelled on
 * containerd's snapshots/testsuite. It uses only the interface, the context
 * it is given, and the fixture's `mount` to look inside snapshots:
 *
 * ```ts
 * snapshotSuite('native', async () => ({ snapshotter, ctx, mount, cleanup }));
 * ```
 *
 * A fixture for bind-only backends may resolve a `bind` mount to its source
 * path without mounting anything; an overlay fixture mounts (as root).
 * Every snapshot the suite makes carries `containerd.io/gc.root`, so the
 * cases also hold with garbage collection running. Each case gets a fresh
 * fixture.
 */
import assert from 'node:assert/strict';
import { existsSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { type ErrorKind, kindOf } from '../errdefs/index.js';
import type { Labels } from '../labels/index.js';
import type { Mount } from '../mount/index.js';
import type { OpContext } from '../namespaces/index.js';
import { nowNanos } from '../time/index.js';
import type { SnapshotInfo, Snapshotter } from './index.js';

/** A snapshot's mounts made visible as a directory. */
export interface MountedTree {
  path: string;
  /** Unmounts (when something was mounted). */
  release(): Promise<void>;
}

export interface SnapshotSuiteFixture {
  snapshotter: Snapshotter;
  /** The context every call is made with. */
  ctx: OpContext;
  /** Makes `mounts` visible as a directory, for writing and reading files. */
  mount(mounts: readonly Mount[]): Promise<MountedTree>;
  /** Releases the fixture, including snapshotters returned by `reopen`. */
  cleanup(): Promise<void>;
  /** A new instance on the same state, as after a restart; without it that case is skipped. */
  reopen?(): Promise<Snapshotter>;
}

export interface SnapshotSuiteCaps {
  /** Views are mounted read-only by the fixture, so writes fail. */
  readOnlyViews?: boolean;
}

const ROOT: Labels = { 'containerd.io/gc.root': 'conformance' };
const opt = (labels: Labels = {}) => ({ labels: { ...ROOT, ...labels } });

export function snapshotSuite(
  name: string,
  make: () => Promise<SnapshotSuiteFixture>,
  caps: SnapshotSuiteCaps = {},
): void {
  describe(`snapshotter conformance: ${name}`, () => {
    let fx: SnapshotSuiteFixture;
    let sn: Snapshotter;
    let ctx: OpContext;

    beforeEach(async () => {
      fx = await make();
      sn = fx.snapshotter;
      ctx = fx.ctx;
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    async function inside<T>(mounts: readonly Mount[], fn: (dir: string) => T): Promise<T> {
      const m = await fx.mount(mounts);
      try {
        return fn(m.path);
      } finally {
        await m.release();
      }
    }

    /** Prepares `key` on `parent`, lets `fill` write into it, commits it as `name`. */
    async function layer(
      name: string,
      parent: string,
      fill: (dir: string) => void,
      labels?: Labels,
    ): Promise<void> {
      const key = `${name}-active`;
      const mounts = await sn.prepare(ctx, key, parent, opt());
      await inside(mounts, fill);
      await sn.commit(ctx, name, key, opt(labels));
    }

    it('prepares, fills, commits and stats a base snapshot', async () => {
      const t0 = nowNanos();
      const mounts = await sn.prepare(ctx, 'a', '', opt());
      const t1 = nowNanos();
      assert.equal(mounts.length, 1);
      await inside(mounts, (dir) => writeFileSync(join(dir, 'hello'), 'world'));
      const active = await sn.stat(ctx, 'a');
      assert.equal(active.name, 'a');
      assert.equal(active.kind, 'active');
      assert.equal(active.parent, '');
      assert.equal(active.createdAt, active.updatedAt);
      assert.ok(active.createdAt >= t0 && active.createdAt <= t1, 'created within the call');
      assert.equal(active.labels['containerd.io/gc.root'], 'conformance');

      await sn.commit(ctx, 'base', 'a', opt());
      const base = await sn.stat(ctx, 'base');
      assert.equal(base.kind, 'committed');
      assert.equal(base.name, 'base');
      assert.equal(base.parent, '');
      assert.equal(base.createdAt, base.updatedAt);
      assert.ok(base.createdAt >= active.createdAt);
      await rejectsWith(sn.stat(ctx, 'a'), 'not_found');
      await rejectsWith(sn.mounts(ctx, 'base'), 'failed_precondition');

      const view = await sn.view(ctx, 'v', 'base', opt());
      assert.equal(await inside(view, (dir) => readFileSync(join(dir, 'hello'), 'utf8')), 'world');
    });

    it('builds a chain: children see their parents, changes stay their own', async () => {
      await layer('l1', '', (dir) => {
        writeFileSync(join(dir, 'f1'), 'one');
        mkdirSync(join(dir, 'd'));
        writeFileSync(join(dir, 'd', 'x'), 'x');
      });
      await layer('l2', 'l1', (dir) => {
        assert.equal(readFileSync(join(dir, 'f1'), 'utf8'), 'one');
        writeFileSync(join(dir, 'f1'), 'uno');
        writeFileSync(join(dir, 'f2'), 'two');
        rmSync(join(dir, 'd'), { recursive: true });
      });
      await layer('l3', 'l2', (dir) => writeFileSync(join(dir, 'f3'), 'three'));

      const l3 = await sn.stat(ctx, 'l3');
      assert.equal(l3.parent, 'l2');
      assert.equal((await sn.stat(ctx, 'l2')).parent, 'l1');

      const top = await sn.view(ctx, 'v3', 'l3', opt());
      await inside(top, (dir) => {
        assert.equal(readFileSync(join(dir, 'f1'), 'utf8'), 'uno');
        assert.equal(readFileSync(join(dir, 'f2'), 'utf8'), 'two');
        assert.equal(readFileSync(join(dir, 'f3'), 'utf8'), 'three');
        assert.equal(existsSync(join(dir, 'd')), false);
      });
      const bottom = await sn.view(ctx, 'v1', 'l1', opt());
      await inside(bottom, (dir) => {
        assert.equal(readFileSync(join(dir, 'f1'), 'utf8'), 'one');
        assert.equal(existsSync(join(dir, 'f2')), false);
        assert.equal(readFileSync(join(dir, 'd', 'x'), 'utf8'), 'x');
      });
      const work = await sn.prepare(ctx, 'w', 'l3', opt());
      await inside(work, (dir) => {
        assert.equal(readFileSync(join(dir, 'f3'), 'utf8'), 'three');
        writeFileSync(join(dir, 'f1'), 'changed');
      });
      await inside(await sn.view(ctx, 'v3b', 'l3', opt()), (dir) =>
        assert.equal(readFileSync(join(dir, 'f1'), 'utf8'), 'uno'),
      );
    });

    it('returns the same mounts from Mounts as from Prepare and View', async () => {
      await layer('p', '', (dir) => writeFileSync(join(dir, 'f'), 'p'));
      const cases: [string, Promise<Mount[]>][] = [
        ['a-np', sn.prepare(ctx, 'a-np', '', opt())],
        ['a', sn.prepare(ctx, 'a', 'p', opt())],
        ['v-np', sn.view(ctx, 'v-np', '', opt())],
        ['v', sn.view(ctx, 'v', 'p', opt())],
      ];
      for (const [key, created] of cases) {
        const mounts = await created;
        assert.ok(mounts.length > 0, key);
        assert.deepEqual(await sn.mounts(ctx, key), mounts, key);
      }
      assert.equal((await sn.stat(ctx, 'v')).kind, 'view');
      assert.equal((await sn.stat(ctx, 'v-np')).kind, 'view');
      assert.equal((await sn.stat(ctx, 'v')).parent, 'p');
    });

    it('answers with containerd error kinds', async () => {
      await sn.prepare(ctx, 'a', '', opt());
      await rejectsWith(sn.prepare(ctx, 'a', '', opt()), 'already_exists');
      await rejectsWith(sn.view(ctx, 'a', '', opt()), 'already_exists');
      await rejectsWith(sn.prepare(ctx, 'b', 'missing', opt()), 'not_found');
      // containerd's storage: a parent must be committed (invalid argument).
      await rejectsWith(sn.prepare(ctx, 'b', 'a', opt()), 'invalid_argument');
      await rejectsWith(sn.commit(ctx, 'c', 'missing', opt()), 'not_found');
      await sn.commit(ctx, 'c', 'a', opt());
      await rejectsWith(sn.commit(ctx, 'c', 'c', opt()), 'already_exists');
      await rejectsWith(sn.commit(ctx, 'c2', 'c', opt()), 'failed_precondition');
      await sn.prepare(ctx, 'a2', '', opt());
      await rejectsWith(sn.commit(ctx, 'c', 'a2', opt()), 'already_exists');
      await sn.view(ctx, 'v', 'c', opt());
      await rejectsWith(sn.commit(ctx, 'v-c', 'v', opt()), 'failed_precondition');
      await rejectsWith(sn.stat(ctx, 'missing'), 'not_found');
      await rejectsWith(sn.mounts(ctx, 'missing'), 'not_found');
      await rejectsWith(sn.usage(ctx, 'missing'), 'not_found');
      await rejectsWith(sn.remove(ctx, 'missing'), 'not_found');
      await rejectsWith(sn.update(ctx, { name: 'missing', labels: {} }), 'not_found');
      // The failed calls changed nothing.
      assert.deepEqual((await sn.list(ctx)).map((i) => i.name).sort(), ['a2', 'c', 'v']);
    });

    it('refuses to remove a snapshot with children, then removes bottom-up', async () => {
      await layer('p', '', () => {});
      await layer('c', 'p', () => {});
      await sn.prepare(ctx, 'a', 'c', opt());
      await sn.view(ctx, 'v', 'p', opt());
      await rejectsWith(sn.remove(ctx, 'p'), 'failed_precondition');
      await rejectsWith(sn.remove(ctx, 'c'), 'failed_precondition');
      await sn.remove(ctx, 'a');
      await sn.remove(ctx, 'c');
      await rejectsWith(sn.remove(ctx, 'p'), 'failed_precondition');
      await sn.remove(ctx, 'v');
      await sn.remove(ctx, 'p');
      assert.deepEqual(await sn.list(ctx), []);
      // Keys and names are free again.
      await layer('p', '', (dir) => writeFileSync(join(dir, 'again'), '1'));
      await inside(await sn.view(ctx, 'v', 'p', opt()), (dir) =>
        assert.equal(readFileSync(join(dir, 'again'), 'utf8'), '1'),
      );
    });

    it('keeps labels: given at creation, replaced at commit, updated by field paths', async () => {
      await sn.prepare(ctx, 'a', '', opt({ x: '1' }));
      assert.deepEqual((await sn.stat(ctx, 'a')).labels, { ...ROOT, x: '1' });
      await sn.commit(ctx, 'c1', 'a', opt({ y: '2' }));
      assert.deepEqual((await sn.stat(ctx, 'c1')).labels, { ...ROOT, y: '2' });
      await sn.prepare(ctx, 'a1', 'c1', opt());
      await sn.view(ctx, 'v1', 'c1', opt());

      for (const key of ['c1', 'a1', 'v1']) {
        const before = await sn.stat(ctx, key);
        const t0 = nowNanos();
        let st = await sn.update(ctx, {
          name: key,
          labels: { ...ROOT, l1: 'v1', l2: 'v2', l3: 'v3' },
        });
        assert.equal(st.name, key);
        assert.equal(st.kind, before.kind);
        assert.equal(st.parent, before.parent);
        assert.equal(st.createdAt, before.createdAt);
        assert.ok(st.updatedAt >= t0);
        assert.deepEqual(st.labels, { ...ROOT, l1: 'v1', l2: 'v2', l3: 'v3' });

        st = await sn.update(ctx, { name: key, labels: { l1: 'updated', l4: 'v4' } }, [
          'labels.l1',
          'labels.l2',
        ]);
        assert.deepEqual(st.labels, { ...ROOT, l1: 'updated', l3: 'v3' });

        st = await sn.update(ctx, { name: key, labels: { ...ROOT, l4: 'v4' } }, ['labels']);
        assert.deepEqual(st.labels, { ...ROOT, l4: 'v4' });
        assert.deepEqual((await sn.stat(ctx, key)).labels, { ...ROOT, l4: 'v4' });

        await rejectsWith(
          sn.update(ctx, { name: key, labels: {} }, ['parent']),
          'invalid_argument',
        );
        assert.deepEqual((await sn.stat(ctx, key)).labels, { ...ROOT, l4: 'v4' });
      }
    });

    it('lists with containerd snapshot filters', async () => {
      const gc = 'labels."containerd.io/gc.root"==conformance';
      await sn.prepare(ctx, 'a-np', '', opt());
      await layer('p', '', () => {});
      await sn.prepare(ctx, 'a', 'p', opt());
      await sn.view(ctx, 'v', 'p', opt());
      await layer('p-wl', '', () => {}, { l: '1' });
      await sn.prepare(ctx, 'a-wl', 'p-wl', opt({ l: '2' }));
      await sn.view(ctx, 'v-wl', 'p-wl', opt({ l: '3' }));
      await sn.prepare(ctx, 'a-np-wl', '', opt({ l: '2' }));

      const cases: [string[], string[]][] = [
        [[gc], ['a', 'a-np', 'a-np-wl', 'a-wl', 'p', 'p-wl', 'v', 'v-wl']],
        [[`kind==active,${gc}`], ['a', 'a-np', 'a-np-wl', 'a-wl']],
        [[`kind==view,${gc}`], ['v', 'v-wl']],
        [[`kind==committed,${gc}`], ['p', 'p-wl']],
        [
          ['name==p', 'name==a-np-wl'],
          ['a-np-wl', 'p'],
        ],
        [['name==a-wl,labels.l'], ['a-wl']],
        [['parent==p'], ['a', 'v']],
        [[`parent!="",${gc}`], ['a', 'a-wl', 'v', 'v-wl']],
        [['labels.l'], ['a-np-wl', 'a-wl', 'p-wl', 'v-wl']],
        [['labels.l==2'], ['a-np-wl', 'a-wl']],
      ];
      for (const [filters, expected] of cases) {
        const got = (await sn.list(ctx, filters)).map((i) => i.name).sort();
        assert.deepEqual(got, expected, filters.join(' | '));
      }
      const all = await sn.list(ctx);
      assert.equal(all.length, 8);
      const p = all.find((i) => i.name === 'p') as SnapshotInfo;
      assert.deepEqual(p, await sn.stat(ctx, 'p'));
    });

    it('measures usage: active now, committed as at commit, views own nothing', async () => {
      const mounts = await sn.prepare(ctx, 'a', '', opt());
      const empty = await sn.usage(ctx, 'a');
      assert.ok(empty.inodes >= 1, 'the root counts');
      await inside(mounts, (dir) => {
        for (const n of ['f1', 'f2', 'f3']) writeFileSync(join(dir, n), Buffer.alloc(10_000, n));
        linkSync(join(dir, 'f1'), join(dir, 'hardlink'));
      });
      const filled = await sn.usage(ctx, 'a');
      assert.equal(filled.inodes, empty.inodes + 3, 'a hard link is one inode');
      assert.ok(filled.size >= empty.size + 30_000, `size ${filled.size}`);
      await sn.commit(ctx, 'c', 'a', opt());
      assert.deepEqual(await sn.usage(ctx, 'c'), filled);
      await sn.view(ctx, 'v', 'c', opt());
      assert.deepEqual(await sn.usage(ctx, 'v'), { size: 0, inodes: 0 });
      await sn.prepare(ctx, 'child', 'c', opt());
      const child = await sn.usage(ctx, 'child');
      assert.ok(child.inodes >= 1);
    });

    it('cleanup keeps every live snapshot', async () => {
      if (!sn.cleanup) return;
      await layer('p', '', (dir) => writeFileSync(join(dir, 'f'), 'kept'));
      await sn.prepare(ctx, 'a', 'p', opt());
      await sn.view(ctx, 'v', 'p', opt());
      await sn.prepare(ctx, 'gone', '', opt());
      await sn.remove(ctx, 'gone');
      await sn.cleanup(ctx);
      assert.deepEqual((await sn.list(ctx)).map((i) => i.name).sort(), ['a', 'p', 'v']);
      await inside(await sn.mounts(ctx, 'a'), (dir) =>
        assert.equal(readFileSync(join(dir, 'f'), 'utf8'), 'kept'),
      );
    });

    it('keeps everything across a restart', async (t) => {
      if (!fx.reopen) {
        t.skip('no reopen');
        return;
      }
      await layer('p', '', (dir) => writeFileSync(join(dir, 'f'), 'persisted'), { k: 'v' });
      await sn.prepare(ctx, 'a', 'p', opt());
      const before = await sn.list(ctx);
      const mounts = await sn.mounts(ctx, 'a');
      sn = await fx.reopen();
      assert.deepEqual(await sn.list(ctx), before);
      assert.deepEqual(await sn.mounts(ctx, 'a'), mounts);
      await inside(await sn.view(ctx, 'v', 'p', opt()), (dir) =>
        assert.equal(readFileSync(join(dir, 'f'), 'utf8'), 'persisted'),
      );
      await sn.prepare(ctx, 'b', '', opt());
      assert.deepEqual(
        (await sn.list(ctx)).map((i) => i.name),
        ['a', 'b', 'p', 'v'],
      );
    });

    if (caps.readOnlyViews) {
      it('mounts views read-only', async () => {
        await layer('p', '', (dir) => writeFileSync(join(dir, 'f'), 'p'));
        await layer('c', 'p', (dir) => writeFileSync(join(dir, 'g'), 'c'));
        for (const [key, parent] of [
          ['v1', 'p'],
          ['v2', 'c'],
        ] as const) {
          await inside(await sn.view(ctx, key, parent, opt()), (dir) => {
            assert.throws(() => writeFileSync(join(dir, 'new'), 'x'), { code: 'EROFS' });
          });
        }
      });
    }
  });
}

async function rejectsWith(p: Promise<unknown>, kind: ErrorKind): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.equal(kindOf(err), kind, `expected ${kind}, got ${String(err)}`);
    return true;
  });
}
