import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { type TempDir, tempDir } from '../../test/helpers/tmp.js';
import { createNetns, isPinnedNetns, removeNetns } from './netns.js';

const skip = process.getuid?.() !== 0 && 'needs root';
const mountedUnder = (dir: string) =>
  readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => (l.split(' ')[4] ?? '').startsWith(`${dir}/`));

describe('pinned network namespaces', { skip }, () => {
  let tmp: TempDir;
  let dir: string;
  beforeEach(() => {
    tmp = tempDir();
    dir = join(tmp.path, 'netns');
  });
  afterEach(async () => {
    for (const f of existsSync(dir) ? readdirSync(dir) : []) await removeNetns(join(dir, f), dir);
    tmp.remove();
  });

  it('creates a new netns pinned on a file under the dir, and removes it', async () => {
    const a = await createNetns(dir);
    const b = await createNetns(dir);
    assert.notEqual(a, b);
    assert.match(a, new RegExp(`^${dir}/cni-[0-9a-f-]{36}$`));
    assert.ok(isPinnedNetns(a));
    const inode = (p: string) =>
      execFileSync('nsenter', [`--net=${p}`, 'readlink', '/proc/self/ns/net']).toString();
    assert.notEqual(inode(a), inode(b));
    assert.notEqual(inode(a), execFileSync('readlink', ['/proc/self/ns/net']).toString());
    // A fresh namespace: only lo, down.
    assert.match(
      execFileSync('nsenter', [`--net=${a}`, 'ip', '-o', 'link']).toString(),
      /^1: lo: <LOOPBACK> /,
    );
    assert.equal(mountedUnder(dir).length, 2);
    await removeNetns(a, dir);
    await removeNetns(b, dir);
    assert.equal(existsSync(a), false);
    assert.deepEqual(mountedUnder(dir), []);
    // Idempotent.
    await removeNetns(a, dir);
  });

  it('refuses paths outside its dir, and leaves nothing when it cannot create', async () => {
    await assert.rejects(removeNetns('/etc/hostname', dir), /not inside/);
    await assert.rejects(removeNetns(dir, dir), /not inside/);
    const file = join(tmp.path, 'a-file');
    writeFileSync(file, '');
    await assert.rejects(createNetns(join(file, 'netns')), /ENOTDIR/);
    assert.deepEqual(readdirSync(tmp.path), ['a-file']);
  });
});
