import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { type TempDir, tempDir } from '../../test/helpers/tmp.js';
import {
  MNT_DETACH,
  MS_BIND,
  MS_SHARED,
  mount,
  pageSize,
  S_IFCHR,
  type SysError,
  umount2,
} from './linux.js';
import { mountAll, unmountAll } from './mount.js';
import { RootFs } from './rootfs.js';

const skip = process.getuid?.() !== 0 && 'needs root';

/** Mount points at or below `dir`, from /proc/self/mountinfo (octal escapes decoded). */
function mountsUnder(dir: string): { point: string; line: string }[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => ({
      point: (line.split(' ')[4] ?? '').replace(/\\([0-7]{3})/g, (_, o) =>
        String.fromCharCode(Number.parseInt(o, 8)),
      ),
      line,
    }))
    .filter(({ point }) => point === dir || point.startsWith(`${dir}/`));
}

describe('mountAll / unmountAll', { skip }, () => {
  let tmp: TempDir;
  const dir = (...p: string[]) => {
    const d = join(tmp.path, ...p);
    mkdirSync(d, { recursive: true });
    return d;
  };

  beforeEach(() => {
    tmp = tempDir();
  });
  afterEach(() => {
    // Whatever a test left mounted, take it down (deepest first) before deleting anything.
    for (const { point } of mountsUnder(tmp.path).reverse()) {
      try {
        umount2(point, MNT_DETACH);
      } catch {}
    }
    assert.deepEqual(mountsUnder(tmp.path), []);
    tmp.remove();
  });

  it('bind-mounts read-only with rbind,ro and unmounts', () => {
    const src = dir('src');
    writeFileSync(join(src, 'f'), 'data');
    const target = dir('target');
    mountAll([{ type: 'bind', source: src, options: ['ro', 'rbind'] }], target);
    assert.equal(readFileSync(join(target, 'f'), 'utf8'), 'data');
    assert.throws(() => writeFileSync(join(target, 'g'), 'x'), { code: 'EROFS' });
    const [m] = mountsUnder(target);
    assert.match(m?.line ?? '', / ro[, ]/);
    writeFileSync(join(src, 'g'), 'still writable');
    unmountAll(target);
    assert.deepEqual(mountsUnder(target), []);
    assert.deepEqual(readdirSync(target), []);
  });

  it('applies propagation with a second call', () => {
    // A shared source: a bind of it joins its peer group unless made private.
    const src = dir('src');
    mount(src, src, null, MS_BIND);
    mount(null, src, null, MS_SHARED);
    const shared = dir('shared');
    const priv = dir('private');
    mountAll([{ type: 'bind', source: src, options: ['rbind', 'rw'] }], shared);
    mountAll([{ type: 'bind', source: src, options: ['rbind', 'rw', 'rprivate'] }], priv);
    assert.match(mountsUnder(shared)[0]?.line ?? '', / shared:\d+ /);
    assert.doesNotMatch(mountsUnder(priv)[0]?.line ?? 'missing', /shared:/);
    writeFileSync(join(priv, 'w'), 'rw');
    unmountAll(shared);
    unmountAll(priv);
    unmountAll(src);
  });

  it('mounts an overlay whose whiteouts and opaque dirs hide the lower layer', () => {
    const lower = dir('lower');
    mkdirSync(join(lower, 'opq'));
    writeFileSync(join(lower, 'opq/hidden'), 'lower');
    writeFileSync(join(lower, 'gone'), 'lower');
    writeFileSync(join(lower, 'kept'), 'lower');
    const upper = dir('upper');
    const work = dir('work');
    const merged = dir('merged');
    // What the differ writes for overlayfs: a 0/0 char device and trusted.overlay.opaque.
    const up = RootFs.open(upper);
    up.mknod('gone', S_IFCHR | 0o000, 0, 0);
    up.mkdir('opq');
    up.lsetxattr('opq', 'trusted.overlay.opaque', Buffer.from('y'));
    up.close();
    mountAll(
      [
        {
          type: 'overlay',
          source: 'overlay',
          options: [`workdir=${work}`, `upperdir=${upper}`, `lowerdir=${lower}`],
        },
      ],
      merged,
    );
    assert.deepEqual(readdirSync(merged).sort(), ['kept', 'opq']);
    assert.deepEqual(readdirSync(join(merged, 'opq')), []);
    writeFileSync(join(merged, 'new'), 'upper');
    unmountAll(merged);
    assert.equal(readFileSync(join(upper, 'new'), 'utf8'), 'upper');
  });

  it('mounts an overlay with more lowerdirs than one page holds, through lowerdir+', () => {
    const n = 40;
    const base = join(tmp.path, 'l'.repeat(100));
    const lowers: string[] = [];
    for (let i = 0; i < n; i++) {
      const l = dir(base.slice(tmp.path.length + 1), String(i), 'fs');
      writeFileSync(join(l, `f${i}`), String(i));
      writeFileSync(join(l, 'shared'), String(i));
      lowers.push(l);
    }
    const lowerdir = `lowerdir=${lowers.join(':')}`;
    assert.ok(lowerdir.length > pageSize(), `${lowerdir.length} bytes`);
    const merged = dir('merged');
    mountAll([{ type: 'overlay', source: 'overlay', options: [lowerdir, 'ro'] }], merged);
    assert.equal(readdirSync(merged).length, n + 1);
    // The first lowerdir is the top layer.
    assert.equal(readFileSync(join(merged, 'shared'), 'utf8'), '0');
    assert.throws(() => writeFileSync(join(merged, 'x'), 'x'), { code: 'EROFS' });
    const [m] = mountsUnder(merged);
    assert.match(m?.line ?? '', / overlay overlay /);
    unmountAll(merged);
    assert.deepEqual(mountsUnder(tmp.path), []);
  });

  it('says clearly when a lowerdir path is too long for fsconfig', () => {
    const long = dir('x'.repeat(250), 'y'.repeat(20));
    const lowers = [long, ...Array.from({ length: 30 }, (_, i) => dir('z'.repeat(150), String(i)))];
    const merged = dir('merged');
    assert.throws(
      () =>
        mountAll(
          [{ type: 'overlay', source: 'overlay', options: [`lowerdir=${lowers.join(':')}`] }],
          merged,
        ),
      /at most 255/,
    );
    assert.deepEqual(mountsUnder(tmp.path), []);
  });

  it('unmounts what it mounted when a later mount fails', () => {
    const src = dir('src');
    const target = dir('target');
    assert.throws(
      () =>
        mountAll(
          [
            { type: 'bind', source: src, options: ['rbind'] },
            { type: 'overlay', source: 'overlay', options: [`lowerdir=${join(tmp.path, 'nope')}`] },
          ],
          target,
        ),
      (err: SysError) => err.code === 'ENOENT' && /mount overlay/.test(err.message),
    );
    assert.deepEqual(mountsUnder(tmp.path), []);
  });

  it('unmountAll takes down stacked mounts and ignores what is not mounted', () => {
    const target = dir('target');
    mount('tmpfs', target, 'tmpfs', 0, 'size=1m');
    mount('tmpfs', target, 'tmpfs', 0, 'size=1m');
    assert.equal(mountsUnder(target).length, 2);
    unmountAll(target);
    assert.deepEqual(mountsUnder(target), []);
    unmountAll(target);
    unmountAll(join(tmp.path, 'missing'));
  });

  it('RootFs with noXdev refuses to cross a mount point', () => {
    const root = dir('root');
    const mnt = dir('root', 'mnt');
    mount('tmpfs', mnt, 'tmpfs', 0, 'size=1m');
    const strict = RootFs.open(root, { noXdev: true });
    const loose = RootFs.open(root);
    try {
      assert.throws(() => strict.mkdir('mnt/x'), { code: 'EXDEV' });
      loose.mkdir('mnt/x');
      assert.deepEqual(readdirSync(mnt), ['x']);
    } finally {
      strict.close();
      loose.close();
      unmountAll(mnt);
    }
  });
});
