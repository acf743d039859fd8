import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { type TempDir, tempDir } from '../../test/helpers/tmp.js';
import { nullLogger } from '../core/log/index.js';
import type { Mount } from '../core/mount/index.js';
import type { OpContext } from '../core/namespaces/index.js';
import { snapshotSuite } from '../core/snapshots/testsuite.js';
import { NativeSnapshotter } from './native.js';

const ctx: OpContext = { signal: new AbortController().signal, log: nullLogger };

/** native only returns bind mounts: their source is the tree, nothing to mount. */
function bindSource(mounts: readonly Mount[]) {
  const [m] = mounts;
  assert.equal(mounts.length, 1);
  assert.equal(m?.type, 'bind');
  return { path: m.source, release: async () => {} };
}

snapshotSuite('native', async () => {
  const dir: TempDir = tempDir();
  const root = join(dir.path, 'io.containerd.snapshotter.v1.native');
  let sn = new NativeSnapshotter(root);
  return {
    snapshotter: sn,
    ctx,
    mount: async (mounts) => bindSource(mounts),
    reopen: async () => {
      sn.close();
      sn = new NativeSnapshotter(root);
      return sn;
    },
    cleanup: async () => {
      sn.close();
      dir.remove();
    },
  };
});

describe('NativeSnapshotter', () => {
  let dir: TempDir;
  let root: string;
  let sn: NativeSnapshotter;
  beforeEach(() => {
    dir = tempDir();
    root = join(dir.path, 'native');
    sn = new NativeSnapshotter(root);
  });
  afterEach(() => {
    sn.close();
    dir.remove();
  });

  it('lays out <root>/metadata.db and snapshots/<id>, mounts as containerd 1.6 does', async () => {
    assert.ok(existsSync(join(root, 'metadata.db')));
    const base = await sn.prepare(ctx, 'a', '');
    assert.deepEqual(base, [
      { type: 'bind', source: join(root, 'snapshots', '1'), options: ['rbind', 'rw'] },
    ]);
    assert.equal(statSync(join(root, 'snapshots', '1')).mode & 0o777, 0o755);
    await sn.commit(ctx, 'base', 'a');
    assert.deepEqual(await sn.view(ctx, 'v', 'base'), [
      { type: 'bind', source: join(root, 'snapshots', '1'), options: ['rbind', 'ro'] },
    ]);
    assert.deepEqual(await sn.view(ctx, 'v-np', ''), [
      { type: 'bind', source: join(root, 'snapshots', '3'), options: ['rbind', 'ro'] },
    ]);
    assert.deepEqual(await sn.prepare(ctx, 'b', 'base'), [
      { type: 'bind', source: join(root, 'snapshots', '4'), options: ['rbind', 'rw'] },
    ]);
    // A view on a parent has no directory of its own.
    assert.deepEqual(readdirSync(join(root, 'snapshots')).sort(), ['1', '3', '4']);
  });

  it('copies the parent for an active child; the copy is independent', async () => {
    const [m] = await sn.prepare(ctx, 'a', '');
    mkdirSync(join(m!.source, 'dir'), { mode: 0o700 });
    writeFileSync(join(m!.source, 'dir', 'f'), 'parent', { mode: 0o640 });
    await sn.commit(ctx, 'p', 'a');
    const [c] = await sn.prepare(ctx, 'c', 'p');
    assert.notEqual(c!.source, m!.source);
    assert.equal(statSync(join(c!.source, 'dir')).mode & 0o777, 0o700);
    assert.equal(statSync(join(c!.source, 'dir', 'f')).mode & 0o777, 0o640);
    writeFileSync(join(c!.source, 'dir', 'f'), 'child');
    assert.equal(
      statSync(join(m!.source, 'dir', 'f')).size,
      'parent'.length,
      'the parent is untouched',
    );
  });

  it('removes the directory with the record, and cleanup removes leftovers', async () => {
    const [m] = await sn.prepare(ctx, 'a', '');
    await sn.remove(ctx, 'a');
    assert.equal(existsSync(m!.source), false);
    // What a crash leaves: a half-built new-* dir, an unrecorded id dir, an rm-* dir.
    for (const leftover of ['new-123', '99', 'rm-5-abcd']) {
      mkdirSync(join(root, 'snapshots', leftover, 'sub'), { recursive: true });
    }
    await sn.prepare(ctx, 'kept', '');
    await sn.cleanup(ctx);
    assert.deepEqual(readdirSync(join(root, 'snapshots')), ['2']);
  });

  it('cleanup leaves a copy in progress alone', async () => {
    const [m] = await sn.prepare(ctx, 'a', '');
    for (let i = 0; i < 300; i++) writeFileSync(join(m!.source, `f${i}`), 'x');
    await sn.commit(ctx, 'p', 'a');
    const copying = sn.prepare(ctx, 'c', 'p');
    await sn.cleanup(ctx);
    const [c] = await copying;
    assert.equal(readdirSync(c!.source).length, 300);
  });

  it('moves aside a stale directory that has the id of a new snapshot', async () => {
    // A crash between the rename and the commit leaves snapshots/<id>
    // without a record; the next create gets the same id.
    mkdirSync(join(root, 'snapshots', '1', 'stale'), { recursive: true });
    const [m] = await sn.prepare(ctx, 'a', '');
    assert.equal(m!.source, join(root, 'snapshots', '1'));
    assert.deepEqual(readdirSync(m!.source), []);
    assert.deepEqual(readdirSync(join(root, 'snapshots')), ['1']);
  });

  it('leaves no temporary directory behind when a create fails', async () => {
    await sn.prepare(ctx, 'a', '');
    await assert.rejects(sn.prepare(ctx, 'a', ''), /already exists/);
    await assert.rejects(sn.prepare(ctx, 'b', 'a'), /not committed/);
    assert.deepEqual(readdirSync(join(root, 'snapshots')), ['1']);
  });
});
