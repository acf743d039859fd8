import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { type TempDir, tempDir } from '../../test/helpers/tmp.js';
import {
  close,
  lgetxattr,
  llistxattr,
  lsetxattr,
  MNT_DETACH,
  mount,
  O_CREAT,
  O_EXCL,
  O_WRONLY,
  S_IFBLK,
  S_IFCHR,
  S_IFIFO,
  S_IFMT,
  umount2,
} from './linux.js';
import { RootFs } from './rootfs.js';

const skip = process.getuid?.() !== 0 && 'needs root';

/** A v2 file capability (cap_setfcap,cap_net_raw+ep …): bytes ≥ 0x80, valid for the kernel. */
const CAPABILITY = Buffer.from([
  0x01, 0x00, 0x00, 0x02, 0xc0, 0x20, 0x00, 0x80, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  0x00, 0x00, 0x00, 0x00,
]);

describe('RootFs as root: devices, owners, trusted and security xattrs', { skip }, () => {
  let tmp: TempDir;
  let root: string;
  let outside: string;
  let fs: RootFs;

  beforeEach(() => {
    tmp = tempDir();
    root = join(tmp.path, 'root');
    outside = join(tmp.path, 'outside');
    mkdirSync(root);
    mkdirSync(outside);
    fs = RootFs.open(root);
  });
  afterEach(() => {
    fs.close();
    assert.deepEqual(readdirSync(outside), []);
    assert.equal(readFileSync('/proc/self/mountinfo', 'utf8').includes(tmp.path), false);
    tmp.remove();
  });

  it('makes char and block devices, FIFOs and whiteouts, inside the root through symlinks', () => {
    symlinkSync(outside, join(root, 'dev'));
    assert.throws(() => fs.mknod('dev/null', S_IFCHR | 0o666, 1, 3), { code: 'ENOENT' });
    fs.mkdirAll(outside.slice(1));
    fs.mknod('dev/null', S_IFCHR | 0o666, 1, 3);
    fs.mknod('dev/loop7', S_IFBLK | 0o660, 7, 7);
    fs.mknod('dev/big', S_IFCHR | 0o600, 4095, 0xfffff);
    fs.mknod('dev/wh', S_IFCHR, 0, 0);
    fs.mknod('dev/fifo', S_IFIFO | 0o644);
    const inside = join(root, outside);
    assert.ok(lstatSync(join(inside, 'null')).isCharacterDevice());
    assert.equal(lstatSync(join(inside, 'null')).rdev, 259);
    assert.ok(lstatSync(join(inside, 'loop7')).isBlockDevice());
    const big = fs.lstat('dev/big');
    assert.deepEqual([big.rdevMajor, big.rdevMinor], [4095, 0xfffff]);
    const wh = fs.lstat('dev/wh');
    assert.equal(wh.mode & S_IFMT, S_IFCHR);
    assert.deepEqual([wh.rdevMajor, wh.rdevMinor], [0, 0]);
    assert.ok(lstatSync(join(inside, 'fifo')).isFIFO());
  });

  it('sets owners (symlinks too), and chown-then-chmod keeps setuid', () => {
    close(fs.openFile('suid', O_WRONLY | O_CREAT | O_EXCL, 0o755));
    fs.lchown('suid', 1000, 2000);
    fs.chmod('suid', 0o6755);
    let st = fs.lstat('suid');
    assert.deepEqual([st.uid, st.gid, st.mode & 0o7777], [1000, 2000, 0o6755]);
    // The other order loses the bits: the kernel clears them on chown.
    fs.lchown('suid', 1001, 2001);
    st = fs.lstat('suid');
    assert.equal(st.mode & 0o6000, 0);
    fs.symlink('suid', 'link');
    fs.lchown('link', 3000, 3001);
    assert.deepEqual([fs.lstat('link').uid, fs.lstat('link').gid], [3000, 3001]);
    assert.equal(fs.lstat('suid').uid, 1001);
    fs.mkdir('d');
    fs.lchown('d', 65534, 65534);
    fs.lchown('.', 123, 456);
    assert.equal(statSync(root).uid, 123);
  });

  it('round-trips trusted.* and security.capability bytes on files, dirs and symlinks', () => {
    close(fs.openFile('bin', O_WRONLY | O_CREAT | O_EXCL, 0o755));
    fs.lsetxattr('bin', 'security.capability', CAPABILITY);
    assert.ok(fs.lgetxattr('bin', 'security.capability').equals(CAPABILITY));
    fs.mkdir('opq');
    fs.lsetxattr('opq', 'trusted.overlay.opaque', Buffer.from('y'));
    assert.equal(fs.lgetxattr('opq', 'trusted.overlay.opaque').toString(), 'y');
    // trusted.* on a symlink itself, not on what it points to.
    fs.symlink(outside, 'sl');
    const bytes = Buffer.from([0x00, 0x80, 0xfe, 0xff]);
    fs.lsetxattr('sl', 'trusted.x', bytes);
    assert.ok(fs.lgetxattr('sl', 'trusted.x').equals(bytes));
    assert.deepEqual(llistxattr(outside), []);
    assert.ok(lgetxattr(join(root, 'sl'), 'trusted.x').equals(bytes));
    assert.ok(fs.llistxattr('sl').includes('trusted.x'));
  });

  it('reads xattr values and lists larger than its 4 KiB first try (tmpfs)', () => {
    const mnt = join(tmp.path, 'tmpfs');
    mkdirSync(mnt);
    mount('tmpfs', mnt, 'tmpfs', 0, 'size=4m');
    try {
      const f = join(mnt, 'f');
      close(RootFs.open(mnt).openFile('f', O_WRONLY | O_CREAT, 0o644));
      for (const size of [4095, 4096, 4097, 20_000, 65_536]) {
        const value = Buffer.alloc(size, size & 0xff);
        value[0] = 0x80;
        lsetxattr(f, `trusted.v${size}`, value);
        assert.ok(lgetxattr(f, `trusted.v${size}`).equals(value), `${size}`);
      }
      const names = Array.from({ length: 40 }, (_, i) => `trusted.${String(i).padStart(150, 'n')}`);
      for (const n of names) lsetxattr(f, n, Buffer.from([1]));
      const listed = llistxattr(f);
      assert.ok(names.join('\0').length > 4096);
      for (const n of names) assert.ok(listed.includes(n));
    } finally {
      umount2(mnt, MNT_DETACH);
    }
  });
});
