import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { type TempDir, tempDir } from '../../test/helpers/tmp.js';
import {
  alreadyExists,
  isAlreadyExists,
  isFailedPrecondition,
  isNotFound,
} from '../core/errdefs/index.js';
import { nullLogger } from '../core/log/index.js';
import type { Mount } from '../core/mount/index.js';
import type { OpContext } from '../core/namespaces/index.js';
import type { Snapshotter } from '../core/snapshots/index.js';
import { snapshotSuite } from '../core/snapshots/testsuite.js';
import { NativeSnapshotter } from '../snapshots/native.js';
import { MetadataDB } from './db.js';
import { SqliteLeaseManager } from './leases.js';
import { SqliteNamespaceStore } from './namespaces.js';
import { MetadataSnapshotter } from './snapshots.js';

const ctxOf = (namespace?: string, lease?: string): OpContext => ({
  ...(namespace !== undefined && { namespace }),
  ...(lease && { lease }),
  signal: new AbortController().signal,
  log: nullLogger,
});

function bindSource(mounts: readonly Mount[]) {
  assert.equal(mounts.length, 1);
  assert.equal(mounts[0]?.type, 'bind');
  return { path: mounts[0].source, release: async () => {} };
}

snapshotSuite('metadata over native', async () => {
  const dir: TempDir = tempDir();
  let mdb = new MetadataDB({ path: join(dir.path, 'meta.db') });
  let backend = new NativeSnapshotter(join(dir.path, 'native'));
  const close = () => {
    backend.close();
    mdb.close();
  };
  return {
    snapshotter: new MetadataSnapshotter(mdb, 'native', backend),
    ctx: ctxOf('default'),
    mount: async (mounts) => bindSource(mounts),
    reopen: async () => {
      close();
      mdb = new MetadataDB({ path: join(dir.path, 'meta.db') });
      backend = new NativeSnapshotter(join(dir.path, 'native'));
      return new MetadataSnapshotter(mdb, 'native', backend);
    },
    cleanup: async () => {
      close();
      dir.remove();
    },
  };
});

describe('MetadataSnapshotter', () => {
  let dir: TempDir;
  let mdb: MetadataDB;
  let backend: NativeSnapshotter;
  let sn: MetadataSnapshotter;
  let deletes: number;
  const a = ctxOf('a');
  const b = ctxOf('b');
  const backendKeys = async () => (await backend.list(a)).map((i) => i.name).sort();

  beforeEach(() => {
    dir = tempDir();
    mdb = new MetadataDB({ path: join(dir.path, 'meta.db') });
    backend = new NativeSnapshotter(join(dir.path, 'native'));
    deletes = 0;
    sn = new MetadataSnapshotter(mdb, 'native', backend, () => deletes++);
  });
  afterEach(() => {
    backend.close();
    mdb.close();
    dir.remove();
  });

  it('needs a namespace', async () => {
    await assert.rejects(sn.prepare(ctxOf(), 'k'), isFailedPrecondition);
    await assert.rejects(sn.list(ctxOf()), isFailedPrecondition);
  });

  it('keeps namespaces apart: same key in two, backend keys <ns>/<seq>/<key>', async () => {
    await sn.prepare(a, 'k', '', { labels: { who: 'a' } });
    await sn.prepare(b, 'k', '', { labels: { who: 'b' } });
    await sn.commit(a, 'base', 'k');
    assert.deepEqual(await backendKeys(), ['a/2/base', 'b/1/k']);
    assert.equal((await sn.stat(b, 'k')).labels.who, 'b');
    assert.equal((await sn.stat(b, 'k')).kind, 'active');
    await assert.rejects(sn.stat(b, 'base'), isNotFound);
    await assert.rejects(sn.prepare(b, 'child', 'base'), isNotFound);
    assert.deepEqual(
      (await sn.list(a)).map((i) => i.name),
      ['base'],
    );
    assert.deepEqual(
      (await sn.list(b)).map((i) => i.name),
      ['k'],
    );
    // The namespace now holds snapshots: it cannot be deleted.
    await assert.rejects(new SqliteNamespaceStore(mdb).delete('b'), /snapshots on "native"/);
  });

  it('removes the backend snapshot with the record', async () => {
    const [m] = await sn.prepare(a, 'k');
    assert.ok(existsSync(m!.source));
    await sn.remove(a, 'k');
    assert.equal(existsSync(m!.source), false);
    assert.deepEqual(await backendKeys(), []);
    assert.equal(deletes, 1, 'a collection is scheduled');
  });

  it('passes only inherited labels to the backend and merges them back', async () => {
    const labels = {
      'containerd.io/snapshot/x': '1',
      'containerd.io/snapshot.ref': 'target',
      plain: 'only-here',
    };
    await sn.prepare(a, 'k', '', { labels });
    const [binfo] = await backend.list(a);
    assert.deepEqual(binfo?.labels, {
      'containerd.io/snapshot/x': '1',
      'containerd.io/snapshot.ref': 'target',
    });
    assert.deepEqual((await sn.stat(a, 'k')).labels, labels);
    await sn.update(a, { name: 'k', labels: { 'containerd.io/snapshot/x': '2' } }, [
      'labels.containerd.io/snapshot/x',
    ]);
    assert.equal((await backend.list(a))[0]?.labels['containerd.io/snapshot/x'], '2');
    assert.deepEqual((await sn.stat(a, 'k')).labels, {
      ...labels,
      'containerd.io/snapshot/x': '2',
    });
    // containerd.io/snapshot.ref naming an existing key: already exists.
    await assert.rejects(
      sn.prepare(a, 'other', '', { labels: { 'containerd.io/snapshot.ref': 'k' } }),
      isAlreadyExists,
    );
  });

  it('puts what a leased call makes under the lease, and takes keys off it', async () => {
    const leases = new SqliteLeaseManager(mdb, {
      schedule() {},
      collect: async () => ({ removed: {}, pauseNanos: 0n }),
    });
    await leases.create(a, { id: 'l' });
    const la = ctxOf('a', 'l');
    await sn.prepare(la, 'extract-1 sha256:abc');
    await sn.view(la, 'v');
    assert.deepEqual(await leases.listResources(a, 'l'), [
      { id: 'extract-1 sha256:abc', type: 'snapshots/native' },
      { id: 'v', type: 'snapshots/native' },
    ]);
    await sn.commit(la, 'sha256:abc', 'extract-1 sha256:abc');
    await sn.remove(la, 'v');
    assert.deepEqual(await leases.listResources(a, 'l'), [
      { id: 'sha256:abc', type: 'snapshots/native' },
    ]);
    // An unknown lease fails the call before anything is made.
    await assert.rejects(
      sn.prepare(ctxOf('a', 'nope'), 'x'),
      /lease "nope": not found|lease "nope"/,
    );
    await assert.rejects(sn.prepare(ctxOf('a', 'nope'), 'x'), isNotFound);
    assert.deepEqual(await backendKeys(), ['a/3/sha256:abc']);
  });

  it('lets one of two concurrent prepares of a key win', async () => {
    const results = await Promise.allSettled([sn.prepare(a, 'k'), sn.prepare(a, 'k')]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'rejected'],
    );
    assert.ok(isAlreadyExists((results[1] as PromiseRejectedResult).reason));
    assert.equal((await backendKeys()).length, 1);
  });

  it('marks backend keys in flight while the backend works', async () => {
    await sn.prepare(a, 'p');
    await sn.commit(a, 'parent', 'p');
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let seen: ReadonlySet<string> = new Set();
    const slow: Snapshotter = Object.assign(Object.create(backend) as Snapshotter, {
      prepare: async (ctx: OpContext, key: string, parent?: string) => {
        seen = sw.inFlight();
        await gate;
        return backend.prepare(ctx, key, parent);
      },
    });
    const sw = new MetadataSnapshotter(mdb, 'native', slow);
    const pending = sw.prepare(a, 'child', 'parent');
    await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual([...seen].sort(), ['a/2/parent', 'a/3/child']);
    release();
    await pending;
    assert.deepEqual([...sw.inFlight()], []);
  });

  it('skips a backend key an orphan holds (an allocation lost to a power cut)', async () => {
    // The backend made a/1/k, the allocation of seq 1 was lost: it comes again.
    await backend.prepare(a, 'a/1/k');
    await sn.prepare(a, 'k');
    assert.deepEqual(await backendKeys(), ['a/1/k', 'a/2/k']);
    assert.equal((await sn.stat(a, 'k')).kind, 'active');
  });

  it('calls a backend that refuses every new key confused', async () => {
    let calls = 0;
    const confused: Snapshotter = Object.assign(Object.create(backend) as Snapshotter, {
      prepare: async () => {
        calls++;
        throw alreadyExists('snapshot');
      },
    });
    const sw = new MetadataSnapshotter(mdb, 'native', confused);
    await assert.rejects(sw.prepare(a, 'k'), /unexpected error from snapshotter/);
    assert.equal(calls, 3);
    await assert.rejects(sw.stat(a, 'k'), isNotFound);
  });

  it('removes the backend snapshot when the record cannot be written', async () => {
    await sn.prepare(a, 'p');
    await sn.commit(a, 'parent', 'p');
    const racing: Snapshotter = Object.assign(Object.create(backend) as Snapshotter, {
      prepare: async (ctx: OpContext, key: string, parent?: string) => {
        const mounts = await backend.prepare(ctx, key, parent);
        // The parent's record goes while the backend works.
        mdb.db.prepare(`DELETE FROM snapshots WHERE key = 'parent'`).run();
        return mounts;
      },
    });
    const sw = new MetadataSnapshotter(mdb, 'native', racing);
    await assert.rejects(sw.prepare(a, 'child', 'parent'), isNotFound);
    await assert.rejects(sw.stat(a, 'child'), isNotFound);
    assert.deepEqual(await backendKeys(), ['a/2/parent']);
  });

  it('refuses to commit what is not active, and to remove a parent', async () => {
    await sn.prepare(a, 'p');
    await sn.commit(a, 'parent', 'p');
    await sn.view(a, 'v', 'parent');
    await assert.rejects(sn.commit(a, 'x', 'v'), isFailedPrecondition);
    await assert.rejects(sn.remove(a, 'parent'), isFailedPrecondition);
    await sn.remove(a, 'v');
    await sn.remove(a, 'parent');
    assert.deepEqual(await backendKeys(), []);
  });

  it('skips records whose backend snapshot is gone', async () => {
    await sn.prepare(a, 'k1');
    await sn.prepare(a, 'k2');
    await backend.remove(a, 'a/1/k1');
    assert.deepEqual(
      (await sn.list(a)).map((i) => i.name),
      ['k2'],
    );
    await assert.rejects(sn.stat(a, 'k1'), isNotFound);
    await sn.remove(a, 'k1');
  });
});
