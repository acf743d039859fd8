import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { type TempDir, tempDir } from '../../test/helpers/tmp.js';
import { nullLogger } from '../core/log/index.js';
import type { OpContext } from '../core/namespaces/index.js';
import { OverlaySnapshotter, overlayAvailable } from './overlay.js';

const ctx: OpContext = { signal: new AbortController().signal, log: nullLogger };

/** The mounts overlay.go returns, checked without mounting (the suite runs as root). */
describe('OverlaySnapshotter mounts and layout', () => {
  let dir: TempDir;
  let root: string;
  let sn: OverlaySnapshotter;
  const fs = (id: number) => join(root, 'snapshots', String(id), 'fs');
  const work = (id: number) => join(root, 'snapshots', String(id), 'work');

  beforeEach(() => {
    dir = tempDir();
    root = join(dir.path, 'io.containerd.snapshotter.v1.overlayfs');
    sn = new OverlaySnapshotter(root, { indexOff: true });
  });
  afterEach(() => {
    sn.close();
    dir.remove();
  });

  it('binds a snapshot without parents, rw or ro', async () => {
    assert.deepEqual(await sn.prepare(ctx, 'a', ''), [
      { type: 'bind', source: fs(1), options: ['rw', 'rbind'] },
    ]);
    assert.deepEqual(await sn.view(ctx, 'v', ''), [
      { type: 'bind', source: fs(2), options: ['ro', 'rbind'] },
    ]);
    assert.ok(statSync(work(1)).isDirectory());
    assert.equal(statSync(work(1)).mode & 0o777, 0o711);
    assert.equal(statSync(fs(1)).mode & 0o777, 0o755);
    assert.equal(existsSync(work(2)), false, 'views have no work dir');
  });

  it('stacks parents nearest first; a view on one parent is a ro bind of it', async () => {
    await sn.prepare(ctx, 'a', '');
    await sn.commit(ctx, 'l1', 'a');
    await sn.prepare(ctx, 'b', 'l1');
    await sn.commit(ctx, 'l2', 'b');
    assert.deepEqual(await sn.prepare(ctx, 'c', 'l2'), [
      {
        type: 'overlay',
        source: 'overlay',
        options: [
          'index=off',
          `workdir=${work(3)}`,
          `upperdir=${fs(3)}`,
          `lowerdir=${fs(2)}:${fs(1)}`,
        ],
      },
    ]);
    assert.deepEqual(await sn.view(ctx, 'v1', 'l1'), [
      { type: 'bind', source: fs(1), options: ['ro', 'rbind'] },
    ]);
    assert.deepEqual(await sn.view(ctx, 'v2', 'l2'), [
      { type: 'overlay', source: 'overlay', options: ['index=off', `lowerdir=${fs(2)}:${fs(1)}`] },
    ]);
    assert.deepEqual(await sn.mounts(ctx, 'c'), await sn.mounts(ctx, 'c'));
    assert.deepEqual(readdirSync(join(root, 'snapshots')).sort(), ['1', '2', '3', '4', '5']);
  });

  it('leaves index=off out when told to, and adds userxattr when asked', async () => {
    sn.close();
    sn = new OverlaySnapshotter(root, { indexOff: false, userxattr: true });
    await sn.prepare(ctx, 'a', '');
    await sn.commit(ctx, 'l1', 'a');
    const [m] = await sn.prepare(ctx, 'b', 'l1');
    assert.deepEqual(m?.options, [
      'userxattr',
      `workdir=${work(2)}`,
      `upperdir=${fs(2)}`,
      `lowerdir=${fs(1)}`,
    ]);
  });

  it('reads overlay support from /proc/filesystems', () => {
    const f = join(dir.path, 'filesystems');
    writeFileSync(f, 'nodev\tsysfs\nnodev\toverlay\n\text4\n');
    assert.equal(overlayAvailable(f), true);
    writeFileSync(f, 'nodev\tsysfs\n\text4\n');
    assert.equal(overlayAvailable(f), false);
    assert.equal(overlayAvailable(join(dir.path, 'missing')), false);
  });

  it('measures the upper dir only', async () => {
    await sn.prepare(ctx, 'a', '');
    assert.deepEqual(await sn.usage(ctx, 'a'), {
      size: statSync(fs(1)).blocks * 512,
      inodes: 1,
    });
  });
});
