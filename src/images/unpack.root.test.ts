import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ctxOf, imageStores, type TestStores } from '../../test/helpers/image-stores.js';
import {
  addImage,
  dirEntry,
  fileEntry,
  MemoryRegistry,
} from '../../test/helpers/memory-registry.js';
import { type TempDir, tempDir } from '../../test/helpers/tmp.js';
import type { TarWriteEntry } from '../archive/index.js';
import { chainIds } from './chain.js';
import { pull } from './pull.js';
import { isUnpacked } from './unpack.js';

const isRoot = process.getuid?.() === 0;
const ctx = ctxOf('default');
const REF = '127.0.0.1:5000/test/overlay:1';
const T = { sec: 1_704_067_200, nsec: 0 };
const whiteout = (name: string): TarWriteEntry => ({
  header: { name, type: 'file', mode: 0o644, size: 0, mtime: T },
  body: Buffer.alloc(0),
});

describe('unpack on overlayfs (root)', { skip: !isRoot && 'needs root to mount overlayfs' }, () => {
  let tmp: TempDir;
  let stores: TestStores;

  before(() => {
    tmp = tempDir('berth-images-root-');
    stores = imageStores(tmp.path, { snapshotters: ['overlayfs'] });
  });
  after(async () => {
    await stores.close();
    tmp.remove();
  });

  it('pulls with unpack into overlay snapshots whose merged view is the image', async () => {
    const reg = new MemoryRegistry();
    const img = await addImage(reg, [
      [
        dirEntry('etc'),
        fileEntry('etc/a', 'one'),
        fileEntry('etc/gone', 'x'),
        dirEntry('data'),
        fileEntry('data/old', 'o'),
      ],
      [
        fileEntry('etc/a', 'two'),
        whiteout('etc/.wh.gone'),
        dirEntry('data'),
        whiteout('data/.wh..wh..opq'),
        fileEntry('data/new', 'n'),
      ],
      [{ header: { name: 'etc/link', type: 'symlink', linkname: 'a', mode: 0o777, mtime: T } }],
    ]);
    reg.tag(REF, img.manifest);
    const image = await pull(ctx, stores, reg.resolver(), REF, {
      unpack: [{ snapshotter: 'overlayfs' }],
    });
    assert.equal(await isUnpacked(ctx, stores, image, { snapshotter: 'overlayfs' }), true);
    const sn = stores.snapshotter('overlayfs');
    const top = chainIds(img.diffIds).at(-1)!;
    const mounts = await sn.view(ctx, 'check-view', top);
    const target = mkdtempSync(join(tmp.path, 'mnt-'));
    const m = mounts[0]!;
    execFileSync('mount', ['-t', m.type, '-o', m.options.join(','), '--', m.source, target]);
    try {
      assert.equal(readFileSync(join(target, 'etc/a'), 'utf8'), 'two');
      assert.equal(existsSync(join(target, 'etc/gone')), false);
      assert.equal(existsSync(join(target, 'data/old')), false);
      assert.equal(readFileSync(join(target, 'data/new'), 'utf8'), 'n');
      assert.equal(readlinkSync(join(target, 'etc/link')), 'a');
    } finally {
      execFileSync('umount', [target]);
      await sn.remove(ctx, 'check-view');
    }
    const infos = await sn.list(ctx);
    assert.deepEqual(infos.map((i) => i.name).sort(), chainIds(img.diffIds).sort());
  });
});
