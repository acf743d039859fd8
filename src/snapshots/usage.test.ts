import assert from 'node:assert/strict';
import { linkSync, lstatSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { tempDir } from '../../test/helpers/tmp.js';
import { diskUsage } from './usage.js';

describe('diskUsage', () => {
  it('counts every inode once (hard links, the root) and its allocated blocks', async () => {
    const tmp = tempDir('berth-usage-');
    try {
      const root = join(tmp.path, 'r');
      mkdirSync(join(root, 'a/b'), { recursive: true });
      writeFileSync(join(root, 'a/f'), Buffer.alloc(10_000, 1));
      writeFileSync(join(root, 'a/b/g'), 'g');
      linkSync(join(root, 'a/f'), join(root, 'a/b/f-again'));
      linkSync(join(root, 'a/f'), join(root, 'f-third'));
      symlinkSync('a/f', join(root, 'l'));
      writeFileSync(join(root, 'empty'), '');
      const paths = ['', 'a', 'a/b', 'a/f', 'a/b/g', 'l', 'empty'].map((p) => join(root, p));
      const blocks = paths.reduce((n, p) => n + lstatSync(p).blocks * 512, 0);
      assert.deepEqual(await diskUsage(root), { size: blocks, inodes: 7 });
    } finally {
      tmp.remove();
    }
  });

  it('stops when its signal is aborted', async () => {
    const tmp = tempDir('berth-usage-');
    try {
      const ac = new AbortController();
      ac.abort(new Error('stop'));
      await assert.rejects(diskUsage(tmp.path, ac.signal), /stop/);
    } finally {
      tmp.remove();
    }
  });
});
