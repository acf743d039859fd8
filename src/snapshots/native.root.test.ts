import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  readdirSync,
  readlinkSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import koffi from 'koffi';
import { tempDir } from '../../test/helpers/tmp.js';
import { nullLogger } from '../core/log/index.js';
import type { OpContext } from '../core/namespaces/index.js';
import { NativeSnapshotter } from './native.js';

const ctx: OpContext = { signal: new AbortController().signal, log: nullLogger };
const isRoot = process.getuid?.() === 0;

const libc = isRoot ? koffi.load('libc.so.6') : undefined;
const lsetxattr = libc?.func(
  'int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)',
);
const llistxattr = libc?.func(
  'intptr_t llistxattr(const char *path, _Out_ uint8_t *list, size_t size)',
);
const lgetxattr = libc?.func(
  'intptr_t lgetxattr(const char *path, const char *name, _Out_ uint8_t *value, size_t size)',
);

function setXattr(path: string, name: string, value: Buffer) {
  assert.equal(lsetxattr?.(path, name, value, value.length, 0), 0, `setxattr ${name} on ${path}`);
}

function xattrs(path: string): Record<string, string> {
  const list = Buffer.alloc(4096);
  const n = Number(llistxattr?.(path, list, list.length));
  assert.ok(n >= 0, `listxattr ${path}`);
  const out: Record<string, string> = {};
  for (const name of list.subarray(0, n).toString('latin1').split('\0').filter(Boolean)) {
    const v = Buffer.alloc(4096);
    const m = Number(lgetxattr?.(path, name, v, v.length));
    out[name] = v.subarray(0, m).toString('hex');
  }
  return out;
}

/** Everything cp must keep, per path (inode numbers as hard-link groups). */
function describeTree(root: string) {
  const out: Record<string, unknown> = {};
  const firstPathOfInode = new Map<bigint, string>();
  const walk = (rel: string) => {
    const p = join(root, rel);
    const st = lstatSync(p, { bigint: true });
    const group = firstPathOfInode.get(st.ino) ?? rel;
    firstPathOfInode.set(st.ino, group);
    out[rel || '.'] = {
      mode: st.mode.toString(8),
      uid: st.uid,
      gid: st.gid,
      rdev: st.rdev,
      size: st.isDirectory() ? undefined : st.size,
      mtime: st.isSymbolicLink() ? undefined : st.mtimeNs,
      link: st.isSymbolicLink() ? readlinkSync(p) : undefined,
      hardlinkOf: group,
      xattrs: xattrs(p),
    };
    if (st.isDirectory()) for (const n of readdirSync(p).sort()) walk(join(rel, n));
  };
  walk('');
  return out;
}

describe('NativeSnapshotter copies parents exactly (root)', { skip: !isRoot && 'not root' }, () => {
  it('keeps owners, modes, times, xattrs, devices, FIFOs, symlinks and hard links', async () => {
    const dir = tempDir();
    const sn = new NativeSnapshotter(join(dir.path, 'native'));
    try {
      const [m] = await sn.prepare(ctx, 'a', '');
      const src = m!.source;
      mkdirSync(join(src, 'etc'), { mode: 0o750 });
      chownSync(join(src, 'etc'), 1000, 1001);
      writeFileSync(join(src, 'etc', 'passwd'), 'root:x:0:0::/root:/bin/sh\n');
      writeFileSync(join(src, 'suid'), '#!/bin/sh\n');
      chmodSync(join(src, 'suid'), 0o4755);
      writeFileSync(join(src, 'sgid'), 'x');
      chownSync(join(src, 'sgid'), 0, 50);
      chmodSync(join(src, 'sgid'), 0o2711);
      writeFileSync(join(src, 'caps'), 'binary');
      // security.capability v2, permitted CAP_SETUID (0x80): bytes >= 0x80.
      setXattr(
        join(src, 'caps'),
        'security.capability',
        Buffer.from('0100000280000000000000000000000000000000', 'hex'),
      );
      setXattr(join(src, 'caps'), 'user.binary', Buffer.from([0x00, 0x80, 0xff, 0x7f]));
      setXattr(join(src, 'caps'), 'trusted.overlay.opaque', Buffer.from('y'));
      linkSync(join(src, 'caps'), join(src, 'caps-link'));
      symlinkSync('/etc/passwd', join(src, 'abs-link'));
      lchownSync(join(src, 'abs-link'), 7, 8);
      symlinkSync('etc/passwd', join(src, 'rel-link'));
      execFileSync('mknod', ['-m', '0620', join(src, 'tty'), 'c', '5', '0']);
      execFileSync('mknod', ['-m', '0660', join(src, 'blk'), 'b', '7', '200']);
      execFileSync('mknod', [join(src, 'whiteout'), 'c', '0', '0']);
      execFileSync('mkfifo', ['-m', '0600', join(src, 'fifo')]);
      const old = new Date('2001-02-03T04:05:06.789Z');
      for (const p of ['etc/passwd', 'suid', 'caps', 'fifo']) utimesSync(join(src, p), old, old);
      lutimesSync(join(src, 'abs-link'), old, old);
      utimesSync(join(src, 'etc'), old, old);
      chmodSync(src, 0o711);
      utimesSync(src, old, old);
      const expected = describeTree(src);

      await sn.commit(ctx, 'p', 'a');
      const [c] = await sn.prepare(ctx, 'c', 'p');
      assert.notEqual(c!.source, src);
      assert.deepEqual(describeTree(c!.source), expected);
    } finally {
      sn.close();
      dir.remove();
    }
  });
});
