import assert from 'node:assert/strict';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { type TempDir, tempDir } from '../../test/helpers/tmp.js';
import {
  close,
  O_CREAT,
  O_EXCL,
  O_PATH,
  O_RDONLY,
  O_TRUNC,
  O_WRONLY,
  S_IFDIR,
  S_IFLNK,
  S_IFMT,
  type SysError,
} from './linux.js';
import { RootFs } from './rootfs.js';

/** Where an fd really points, as the kernel sees it. */
const fdPath = (fd: number) => readlinkSync(`/proc/self/fd/${fd}`);

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as SysError).code;
  }
  return undefined;
}

/** Every path below `dir` with its type, size and mtime: proof that nothing changed there. */
function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = lstatSync(p, { bigint: true });
      out.push(`${p} ${st.mode} ${st.size} ${st.mtimeNs} ${st.nlink}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

/** The tests' layout: <tmp>/root is the RootFs, <tmp>/outside must never change. */
describe('RootFs containment', () => {
  let tmp: TempDir;
  let root: string;
  let outside: string;
  let before: string[];
  let fs: RootFs;

  for (const cacheSize of [64, 0]) {
    describe(`cacheSize ${cacheSize}`, () => {
      beforeEach(() => {
        tmp = tempDir();
        root = join(tmp.path, 'root');
        outside = join(tmp.path, 'outside');
        mkdirSync(root);
        mkdirSync(join(outside, 'dir'), { recursive: true });
        writeFileSync(join(outside, 'secret'), 'host data');
        before = snapshot(outside);
        fs = RootFs.open(root, { cacheSize });
      });
      afterEach(() => {
        fs.close();
        // Whatever a test did, the outside is untouched and the tmp dir holds only root and outside.
        assert.deepEqual(snapshot(outside), before);
        assert.deepEqual(readdirSync(tmp.path).sort(), ['outside', 'root']);
        tmp.remove();
      });

      it("resolves evil -> /etc as the root's own etc, never the host's", () => {
        symlinkSync('/etc', join(root, 'evil'));
        // No etc in the root yet: the host's /etc/passwd must not be found.
        assert.equal(
          code(() => fs.open('evil/passwd', O_RDONLY)),
          'ENOENT',
        );
        assert.equal(fs.tryLstat('evil/passwd'), undefined);
        assert.equal(
          code(() => fs.mkdir('evil/new')),
          'ENOENT',
        );
        mkdirSync(join(root, 'etc'));
        writeFileSync(join(root, 'etc/passwd'), 'inner');
        const fd = fs.open('evil/passwd', O_RDONLY);
        assert.equal(fdPath(fd), join(root, 'etc/passwd'));
        assert.equal(readFileSync(fd, 'utf8'), 'inner');
        close(fd);
        fs.mkdir('evil/new');
        assert.ok(statSync(join(root, 'etc/new')).isDirectory());
        const { dirfd, name } = fs.resolveParent('evil/passwd');
        assert.equal(fdPath(dirfd), join(root, 'etc'));
        assert.equal(name, 'passwd');
        close(dirfd);
      });

      it('keeps absolute symlinks inside the root', () => {
        symlinkSync(outside, join(root, 'abs'));
        symlinkSync(join(outside, 'secret'), join(root, 'abs-file'));
        assert.equal(
          code(() => fs.mkdir('abs/x')),
          'ENOENT',
        );
        assert.equal(
          code(() => fs.openFile('abs/secret', O_WRONLY | O_TRUNC)),
          'ENOENT',
        );
        assert.equal(
          code(() => fs.symlink('/', 'abs/l')),
          'ENOENT',
        );
        assert.equal(
          code(() => fs.mknod('abs/n', 0o010644)),
          'ENOENT',
        );
        assert.equal(
          code(() => fs.unlink('abs/secret')),
          'ENOENT',
        );
        assert.equal(
          code(() => fs.link('abs/secret', 'hard')),
          'ENOENT',
        );
        assert.equal(
          code(() => fs.lsetxattr('abs/secret', 'user.x', Buffer.from('x'))),
          'ENOENT',
        );
        assert.equal(
          code(() => fs.chmod('abs/secret', 0o777)),
          'ENOENT',
        );
        assert.equal(
          code(() => fs.lutimes('abs/secret', { sec: 0, nsec: 0 }, { sec: 0, nsec: 0 })),
          'ENOENT',
        );
        assert.equal(fs.removeAll('abs/dir'), false);
        assert.equal(fs.removeAll('abs/secret'), false);
        // The same path made inside the root is where things land.
        fs.mkdirAll(outside.slice(1));
        fs.mkdir('abs/x');
        assert.ok(statSync(join(root, outside, 'x')).isDirectory());
        // Following the final symlink, too, stays inside.
        assert.equal(
          code(() => fs.open('abs-file', O_RDONLY)),
          'ENOENT',
        );
      });

      it('clamps .. at the root', () => {
        fs.mkdir('../../x');
        fs.mkdir('a');
        fs.mkdir('a/../../../y');
        fs.mkdir(`/../../${'../'.repeat(40)}z`);
        assert.deepEqual(readdirSync(root).sort(), ['a', 'x', 'y', 'z']);
        assert.equal(
          code(() => fs.openFile('../outside/secret', O_WRONLY | O_TRUNC)),
          'ENOENT',
        );
        assert.equal(
          code(() => fs.rename('x', '../outside/x')),
          'ENOENT',
        );
        const fd = fs.open('../../..', O_PATH);
        assert.equal(fdPath(fd), root);
        close(fd);
        const p = fs.resolveParent('../../a');
        assert.equal(fdPath(p.dirfd), root);
        close(p.dirfd);
      });

      it('keeps relative symlinks that climb out inside the root', () => {
        symlinkSync('../../../../../../..', join(root, 'up'));
        symlinkSync('../outside', join(root, 'sibling'));
        fs.mkdir('up/esc');
        assert.ok(statSync(join(root, 'esc')).isDirectory());
        assert.equal(
          code(() => fs.openFile('sibling/secret', O_WRONLY | O_TRUNC)),
          'ENOENT',
        );
        assert.equal(
          code(() => fs.mkdir('sibling/dir/x')),
          'ENOENT',
        );
        assert.equal(
          code(() => fs.symlink('x', 'up/../outside/l')),
          'ENOENT',
        );
        fs.openFile('up/up/up/file', O_WRONLY | O_CREAT | O_EXCL, 0o600);
        assert.ok(existsSync(join(root, 'file')));
      });

      it('follows symlink chains built across layers, still inside', () => {
        // "Layer 1": a -> b/c; "layer 2": b -> ../..; "layer 3": writes through a.
        fs.symlink('b/c', 'a');
        fs.symlink('../..', 'b');
        fs.mkdir('c');
        fs.mkdir('a/through');
        assert.ok(statSync(join(root, 'c/through')).isDirectory());
        // A chain climbing out of the root through an absolute symlink.
        fs.symlink('/c/through', 'chain1');
        fs.symlink('chain1/../../..', 'chain2');
        const fd = fs.open('chain2', O_PATH);
        assert.equal(fdPath(fd), root);
        close(fd);
      });

      it('fails symlink loops with ELOOP', () => {
        fs.symlink('loop2', 'loop1');
        fs.symlink('loop1', 'loop2');
        fs.symlink('self/x', 'self');
        assert.equal(
          code(() => fs.mkdir('loop1/x')),
          'ELOOP',
        );
        assert.equal(
          code(() => fs.mkdir('self/x')),
          'ELOOP',
        );
        assert.equal(
          code(() => fs.open('loop1', O_RDONLY)),
          'ELOOP',
        );
        assert.equal(
          code(() => fs.openFile('loop1', O_RDONLY)),
          'ELOOP',
        );
        // The loop itself is an entry like any other.
        assert.equal(fs.lstat('loop1').mode & S_IFMT, S_IFLNK);
        fs.unlink('loop1');
      });

      it('never follows the final name', () => {
        symlinkSync(join(outside, 'secret'), join(root, 'link'));
        symlinkSync(join(outside, 'dir'), join(root, 'dirlink'));
        assert.equal(
          code(() => fs.chmod('link', 0o777)),
          'ENOTSUP',
        );
        assert.equal(
          code(() => fs.openFile('link', O_WRONLY | O_TRUNC)),
          'ELOOP',
        );
        assert.equal(
          code(() => fs.lsetxattr('link', 'user.x', Buffer.from('x'))),
          'EPERM',
        );
        assert.equal(
          code(() => fs.readdir('dirlink')),
          'ENOTDIR',
        );
        assert.equal(
          code(() => fs.removeChildren('dirlink')),
          'ENOTDIR',
        );
        fs.lutimes('link', { sec: 1, nsec: 2 }, { sec: 3, nsec: 4 });
        assert.deepEqual(fs.lstat('link').mtime, { sec: 3, nsec: 4 });
        const uid = process.getuid?.() ?? 0;
        fs.lchown('link', uid, -1);
        assert.equal(fs.readlink('link').toString(), join(outside, 'secret'));
        // A hard link to the symlink is a hard link to the symlink, not to the host file.
        fs.link('link', 'hard');
        assert.ok(lstatSync(join(root, 'hard')).isSymbolicLink());
        assert.equal(fs.removeAll('dirlink'), true);
        fs.unlink('link');
        fs.unlink('hard');
        assert.deepEqual(readdirSync(root), []);
      });

      it('refuses paths ending in .. and operations on the root itself', () => {
        fs.mkdir('a');
        assert.equal(
          code(() => fs.removeAll('a/..')),
          'EINVAL',
        );
        assert.equal(
          code(() => fs.unlink('..')),
          'EINVAL',
        );
        assert.equal(
          code(() => fs.rmdir('a/../..')),
          'EINVAL',
        );
        assert.equal(
          code(() => fs.removeAll('')),
          'EINVAL',
        );
        assert.equal(
          code(() => fs.removeAll('/')),
          'EINVAL',
        );
        assert.equal(
          code(() => fs.removeAll('./.')),
          'EINVAL',
        );
        assert.equal(
          code(() => fs.mkdir('.')),
          'EEXIST',
        );
        assert.equal(
          code(() => fs.rename('a', '..')),
          'EINVAL',
        );
        assert.equal(
          code(() => fs.resolveParent('/')),
          'EINVAL',
        );
        assert.equal(
          code(() => fs.lsetxattr('a/..', 'user.x', Buffer.from('x'))),
          'EINVAL',
        );
        assert.ok(existsSync(join(root, 'a')));
        // The root's own metadata is reachable as '' or '.'.
        fs.chmod('.', 0o751);
        assert.equal(statSync(root).mode & 0o7777, 0o751);
        fs.lutimes('', { sec: 10, nsec: 1 }, { sec: 20, nsec: 2 });
        assert.deepEqual(fs.lstat('/').mtime, { sec: 20, nsec: 2 });
        fs.lsetxattr('.', 'user.root', Buffer.from([0xff]));
        assert.deepEqual([...fs.lgetxattr('', 'user.root')], [0xff]);
        assert.deepEqual(fs.llistxattr('/'), ['user.root']);
        assert.equal(fs.lstat('').mode & S_IFMT, S_IFDIR);
      });

      it('removes trees without following symlinks out', () => {
        fs.mkdirAll('t/a/b');
        fs.openFile('t/a/b/f', O_WRONLY | O_CREAT);
        symlinkSync(outside, join(root, 't/a/out'));
        symlinkSync(join(outside, 'secret'), join(root, 't/file-out'));
        fs.mknod('t/fifo', 0o010600);
        assert.equal(fs.removeAll('t'), true);
        assert.equal(fs.removeAll('t'), false);
        assert.equal(fs.removeAll('missing/parent/x'), false);
        fs.mkdirAll('o/d');
        symlinkSync(outside, join(root, 'o/out'));
        fs.removeChildren('o');
        assert.deepEqual(readdirSync(join(root, 'o')), []);
        fs.mkdir('o/keep');
        fs.removeChildren('/');
        assert.deepEqual(readdirSync(root), []);
      });

      it('sees a replaced directory, not a stale cached one', () => {
        fs.mkdirAll('one');
        fs.mkdirAll('two');
        fs.symlink('one', 'p');
        fs.mkdir('p/a'); // caches p -> one
        fs.unlink('p');
        fs.symlink('two', 'p');
        fs.mkdir('p/b');
        assert.ok(existsSync(join(root, 'two/b')));
        fs.mkdirAll('d/e');
        fs.mkdir('d/e/f'); // caches d/e
        fs.removeAll('d');
        fs.mkdirAll('x/y');
        fs.symlink('x', 'd');
        fs.mkdir('d/y/z');
        assert.ok(existsSync(join(root, 'x/y/z')));
        fs.rename('x', 'x2');
        fs.mkdirAll('x/y');
        fs.mkdir('d/y/w');
        assert.ok(existsSync(join(root, 'x/y/w')));
      });

      it('handles names that are not UTF-8', () => {
        const dir = Buffer.from([0x64, 0xff]);
        const file = Buffer.concat([dir, Buffer.from('/'), Buffer.from([0xc3, 0x28])]);
        fs.mkdir(dir);
        close(fs.openFile(file, O_WRONLY | O_CREAT | O_EXCL, 0o644));
        const names = fs.readdir(dir);
        assert.equal(names.length, 1);
        assert.deepEqual([...names[0]!], [0xc3, 0x28]);
        fs.symlink(Buffer.from([0x80]), Buffer.concat([dir, Buffer.from('/l')]));
        assert.deepEqual([...fs.readlink(Buffer.concat([dir, Buffer.from('/./l')]))], [0x80]);
        assert.equal(fs.removeAll(dir), true);
        assert.throws(() => fs.mkdir('a\0b'), { code: 'ERR_INVALID_ARG_VALUE' });
      });

      it('names the root-relative path in errors', () => {
        let err: SysError | undefined;
        try {
          fs.mkdir('no/such/dir');
        } catch (e) {
          err = e as SysError;
        }
        assert.equal(err?.code, 'ENOENT');
        assert.equal(err?.path, 'no/such/dir');
        assert.equal(err?.syscall, 'openat2');
        try {
          fs.link('nope', 'other');
        } catch (e) {
          err = e as SysError;
        }
        assert.equal(err?.message, "ENOENT: no such file or directory, linkat 'nope' -> 'other'");
      });

      it('does what it says on ordinary entries', () => {
        fs.mkdir('d', 0o700);
        fs.chmod('d', 0o1777);
        assert.equal(lstatSync(join(root, 'd')).mode & 0o7777, 0o1777);
        const fd = fs.openFile('d/f', O_WRONLY | O_CREAT | O_EXCL, 0o600);
        writeFileSync(fd, 'data');
        close(fd);
        fs.link('d/f', 'd/g');
        assert.equal(fs.lstat('d/g').nlink, 2);
        fs.rename('d/g', 'h');
        assert.equal(readFileSync(join(root, 'h'), 'utf8'), 'data');
        fs.lsetxattr('h', 'user.k', Buffer.from([0x80, 0x81]));
        assert.deepEqual([...fs.lgetxattr('d/f', 'user.k')], [0x80, 0x81]);
        fs.lremovexattr('h', 'user.k');
        assert.deepEqual(fs.llistxattr('h'), []);
        fs.unlink('h');
        fs.unlink('d/f');
        fs.rmdir('d');
        assert.equal(
          code(() => fs.unlink('d')),
          'ENOENT',
        );
        assert.deepEqual(readdirSync(root), []);
      });
    });
  }

  it('refuses a cache of one and use after close', () => {
    const t = tempDir();
    try {
      assert.throws(() => RootFs.open(t.path, { cacheSize: 1 }), RangeError);
      const r = RootFs.open(t.path);
      r.close();
      r.close();
      assert.throws(() => r.mkdir('x'), /closed/);
    } finally {
      t.remove();
    }
  });
});
