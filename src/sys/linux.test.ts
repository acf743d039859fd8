import assert from 'node:assert/strict';
import {
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { type TempDir, tempDir } from '../../test/helpers/tmp.js';
import {
  AT_EMPTY_PATH,
  AT_FDCWD,
  AT_REMOVEDIR,
  AT_SYMLINK_NOFOLLOW,
  checkOpenat2,
  close,
  fchmodat,
  fchownat,
  fgetxattr,
  flistxattr,
  fsetxattr,
  fstatat,
  isErrno,
  lgetxattr,
  linkat,
  llistxattr,
  lremovexattr,
  lsetxattr,
  makedev,
  mkdirat,
  mknodat,
  O_CLOEXEC,
  O_CREAT,
  O_DIRECTORY,
  O_PATH,
  O_RDONLY,
  O_WRONLY,
  openat,
  openat2,
  openPath,
  pageSize,
  RENAME_EXCHANGE,
  RENAME_NOREPLACE,
  RESOLVE_BENEATH,
  RESOLVE_IN_ROOT,
  RESOLVE_NO_MAGICLINKS,
  RESOLVE_NO_SYMLINKS,
  readlinkat,
  renameat2,
  S_IFIFO,
  S_IFMT,
  S_IFREG,
  type SysError,
  symlinkat,
  sysError,
  tryFstatat,
  UTIME_OMIT,
  unlinkat,
  utimensat,
  XATTR_CREATE,
} from './linux.js';

/** Where an fd really points, as the kernel sees it. */
const fdPath = (fd: number) => readlinkSync(`/proc/self/fd/${fd}`);

function errCode(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as SysError).code;
  }
  return undefined;
}

describe('linux syscalls', () => {
  let tmp: TempDir;
  let dir: string;
  let dfd: number;

  before(() => {
    tmp = tempDir();
    dir = tmp.path;
    dfd = openat(AT_FDCWD, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  });
  after(() => {
    close(dfd);
    tmp.remove();
  });

  it('has openat2 on this kernel', () => {
    assert.doesNotThrow(() => checkOpenat2());
    assert.ok(pageSize() >= 4096);
  });

  it('throws node:fs-shaped errors', () => {
    let err: SysError | undefined;
    try {
      mkdirat(dfd, 'missing/child', 0o755);
    } catch (e) {
      err = e as SysError;
    }
    assert.ok(err instanceof Error);
    assert.equal(err.code, 'ENOENT');
    assert.equal(err.errno, -2);
    assert.equal(err.syscall, 'mkdirat');
    assert.equal(err.path, 'missing/child');
    assert.equal(err.message, "ENOENT: no such file or directory, mkdirat 'missing/child'");
    assert.ok(isErrno(err, 'ENOENT'));
    assert.equal(isErrno(err, 'EEXIST'), false);
    // The same shape as node:fs's own errors.
    try {
      statSync(join(dir, 'missing'));
    } catch (e) {
      assert.deepEqual(
        Object.keys(e as object).sort(),
        Object.keys(sysError(2, 'stat', 'x')).sort(),
      );
    }
    const two = sysError(18, 'renameat2', 'a', 'b');
    assert.equal(two.message, "EXDEV: cross-device link not permitted, renameat2 'a' -> 'b'");
    assert.equal(two.dest, 'b');
    assert.equal(
      errCode(() => close(-1)),
      'EBADF',
    );
  });

  it('refuses NUL bytes in paths instead of truncating them', () => {
    assert.throws(() => mkdirat(dfd, 'a\0b', 0o755), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => mkdirat(dfd, Buffer.from('a\0b'), 0o755), {
      code: 'ERR_INVALID_ARG_VALUE',
    });
    assert.throws(() => symlinkat('x\0y', dfd, 'l'), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.deepEqual(readdirSync(dir), []);
  });

  it('takes names that are not UTF-8 as Buffers', () => {
    const name = Buffer.from([0x66, 0xff, 0xfe, 0x80]);
    mkdirat(dfd, name, 0o755);
    assert.ok(readdirSync(dir, { encoding: 'buffer' }).some((n) => n.equals(name)));
    // A NUL-terminated Buffer is passed as is.
    assert.equal(fstatat(dfd, Buffer.concat([name, Buffer.from([0])]), 0).mode & S_IFMT, 0o040000);
    unlinkat(dfd, name, AT_REMOVEDIR);
  });

  it('fstatat reports what lstat does, ino as bigint and times in ns', () => {
    writeFileSync(join(dir, 'f'), 'hello');
    symlinkSync('f', join(dir, 'l'));
    for (const [name, flags] of [
      ['f', 0],
      ['l', AT_SYMLINK_NOFOLLOW],
    ] as const) {
      const st = fstatat(dfd, name, flags);
      const ref = lstatSync(join(dir, name), { bigint: true });
      assert.equal(st.ino, ref.ino);
      assert.equal(BigInt(st.dev), ref.dev);
      assert.equal(BigInt(st.mode), ref.mode);
      assert.equal(BigInt(st.size), ref.size);
      assert.equal(BigInt(st.nlink), ref.nlink);
      assert.equal(BigInt(st.uid), ref.uid);
      assert.equal(BigInt(st.blocks), ref.blocks);
      assert.equal(BigInt(st.mtime.sec) * 1_000_000_000n + BigInt(st.mtime.nsec), ref.mtimeNs);
      assert.equal(BigInt(st.ctime.sec) * 1_000_000_000n + BigInt(st.ctime.nsec), ref.ctimeNs);
    }
    const fd = openPath(dfd, 'l');
    assert.equal(fstatat(fd, '', AT_EMPTY_PATH).mode & S_IFMT, 0o120000);
    close(fd);
    assert.equal(tryFstatat(dfd, 'nope'), undefined);
    assert.equal(tryFstatat(dfd, 'f/nope'), undefined);
    assert.equal(
      errCode(() => fstatat(dfd, 'nope')),
      'ENOENT',
    );
  });

  it('utimensat sets ns times, before 1970 too, and leaves UTIME_OMIT alone', () => {
    writeFileSync(join(dir, 't'), '');
    utimensat(dfd, 't', { sec: 1, nsec: 999_999_999 }, { sec: -86_400, nsec: 123_456_789 });
    let st = fstatat(dfd, 't');
    assert.deepEqual(st.atime, { sec: 1, nsec: 999_999_999 });
    assert.deepEqual(st.mtime, { sec: -86_400, nsec: 123_456_789 });
    utimensat(dfd, 't', { sec: 0, nsec: UTIME_OMIT }, { sec: 2 ** 33, nsec: 7 });
    st = fstatat(dfd, 't');
    assert.deepEqual(st.atime, { sec: 1, nsec: 999_999_999 });
    assert.deepEqual(st.mtime, { sec: 2 ** 33, nsec: 7 });
    // A symlink's own times.
    symlinkSync('t', join(dir, 'tl'));
    utimensat(dfd, 'tl', { sec: 5, nsec: 5 }, { sec: 6, nsec: 6 }, AT_SYMLINK_NOFOLLOW);
    assert.deepEqual(fstatat(dfd, 'tl', AT_SYMLINK_NOFOLLOW).mtime, { sec: 6, nsec: 6 });
    assert.deepEqual(fstatat(dfd, 't').mtime, { sec: 2 ** 33, nsec: 7 });
  });

  it('makedev packs device numbers as glibc does', () => {
    assert.equal(makedev(0, 0), 0);
    assert.equal(makedev(1, 3), 259);
    assert.equal(makedev(8, 256), 0x100800);
    assert.equal(makedev(254, 0), 65024);
    assert.equal(makedev(0x1000, 1), (0x1000n << 32n) | 1n);
  });

  it('mknodat makes FIFOs and regular files', () => {
    mknodat(dfd, 'fifo', S_IFIFO | 0o640);
    mknodat(dfd, 'reg', S_IFREG | 0o600);
    assert.ok(lstatSync(join(dir, 'fifo')).isFIFO());
    assert.ok(lstatSync(join(dir, 'reg')).isFile());
    assert.equal(
      errCode(() => mknodat(dfd, 'fifo', S_IFIFO | 0o640)),
      'EEXIST',
    );
  });

  it('symlinkat and readlinkat keep targets byte for byte', () => {
    const target = Buffer.from([0x2e, 0x2e, 0x2f, 0xc3, 0x28, 0xff]);
    symlinkat(target, dfd, 'raw');
    assert.ok(readlinkat(dfd, 'raw').equals(target));
    symlinkat('/etc/passwd', dfd, 'abs');
    assert.equal(readlinkat(dfd, 'abs').toString(), '/etc/passwd');
    assert.equal(
      errCode(() => readlinkat(dfd, 'reg')),
      'EINVAL',
    );
  });

  it('linkat links a symlink itself unless asked to follow', () => {
    writeFileSync(join(dir, 'target'), 'x');
    symlinkat('target', dfd, 'sl');
    linkat(dfd, 'sl', dfd, 'hl-nofollow');
    linkat(dfd, 'sl', dfd, 'hl-follow', 0x400 /* AT_SYMLINK_FOLLOW */);
    assert.ok(lstatSync(join(dir, 'hl-nofollow')).isSymbolicLink());
    assert.ok(lstatSync(join(dir, 'hl-follow')).isFile());
    assert.equal(lstatSync(join(dir, 'target')).nlink, 2);
  });

  it('renameat2 honours NOREPLACE and EXCHANGE; unlinkat removes', () => {
    writeFileSync(join(dir, 'r1'), '1');
    writeFileSync(join(dir, 'r2'), '2');
    assert.equal(
      errCode(() => renameat2(dfd, 'r1', dfd, 'r2', RENAME_NOREPLACE)),
      'EEXIST',
    );
    renameat2(dfd, 'r1', dfd, 'r2', RENAME_EXCHANGE);
    assert.equal(readFileSync(join(dir, 'r1'), 'utf8'), '2');
    assert.equal(readFileSync(join(dir, 'r2'), 'utf8'), '1');
    unlinkat(dfd, 'r1');
    mkdirat(dfd, 'emptydir', 0o700);
    assert.equal(
      errCode(() => unlinkat(dfd, 'emptydir')),
      'EISDIR',
    );
    unlinkat(dfd, 'emptydir', AT_REMOVEDIR);
    assert.equal(tryFstatat(dfd, 'emptydir'), undefined);
  });

  it('fchownat and fchmodat act on the entry, never through a final symlink', () => {
    writeFileSync(join(dir, 'm'), '');
    symlinkat('m', dfd, 'ml');
    const uid = process.getuid?.() ?? 0;
    const gid = process.getgid?.() ?? 0;
    fchownat(dfd, 'ml', uid, gid, AT_SYMLINK_NOFOLLOW);
    fchownat(dfd, 'm', -1, -1);
    fchmodat(dfd, 'm', 0o2751, AT_SYMLINK_NOFOLLOW);
    assert.equal(fstatat(dfd, 'm').mode & 0o7777, 0o2751);
    // Linux has no symlink modes: refused rather than applied to the target.
    assert.equal(
      errCode(() => fchmodat(dfd, 'ml', 0o777, AT_SYMLINK_NOFOLLOW)),
      'ENOTSUP',
    );
    assert.equal(fstatat(dfd, 'm').mode & 0o7777, 0o2751);
    fchmodat(dfd, 'ml', 0o640); // follows without the flag
    assert.equal(fstatat(dfd, 'm').mode & 0o7777, 0o640);
  });

  it('user.* xattrs are binary-safe, by path and by fd', () => {
    writeFileSync(join(dir, 'x'), '');
    const every = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    lsetxattr(join(dir, 'x'), 'user.bytes', every);
    lsetxattr(join(dir, 'x'), 'user.empty', Buffer.alloc(0));
    assert.ok(lgetxattr(join(dir, 'x'), 'user.bytes').equals(every));
    assert.equal(lgetxattr(join(dir, 'x'), 'user.empty').length, 0);
    assert.deepEqual(llistxattr(join(dir, 'x')).sort(), ['user.bytes', 'user.empty']);
    assert.equal(
      errCode(() => lgetxattr(join(dir, 'x'), 'user.none')),
      'ENODATA',
    );
    assert.equal(
      errCode(() => lsetxattr(join(dir, 'x'), 'user.bytes', every, XATTR_CREATE)),
      'EEXIST',
    );
    lremovexattr(join(dir, 'x'), 'user.empty');
    const fd = openat(dfd, 'x', O_WRONLY | O_CLOEXEC);
    fsetxattr(fd, 'user.fd', Buffer.from([0x80, 0x00, 0xff]));
    assert.deepEqual([...fgetxattr(fd, 'user.fd')], [0x80, 0x00, 0xff]);
    assert.deepEqual(flistxattr(fd).sort(), ['user.bytes', 'user.fd']);
    close(fd);
    // user.* is not allowed on symlinks; the target must stay untouched.
    symlinkat('x', dfd, 'xl');
    assert.equal(
      errCode(() => lsetxattr(join(dir, 'xl'), 'user.y', every)),
      'EPERM',
    );
    assert.deepEqual(llistxattr(join(dir, 'x')).sort(), ['user.bytes', 'user.fd']);
  });

  it('openat2 resolves under the flags asked', () => {
    mkdirSync(join(dir, 'root/etc'), { recursive: true });
    writeFileSync(join(dir, 'root/etc/passwd'), 'inner');
    symlinkSync('/etc', join(dir, 'root/evil'));
    const rfd = openat(dfd, 'root', O_PATH | O_DIRECTORY | O_CLOEXEC);
    try {
      const fd = openat2(rfd, 'evil/passwd', O_RDONLY | O_CLOEXEC, 0, RESOLVE_IN_ROOT);
      assert.equal(fdPath(fd), join(dir, 'root/etc/passwd'));
      assert.equal(readFileSync(fd, 'utf8'), 'inner');
      close(fd);
      assert.equal(
        errCode(() => openat2(rfd, '../x', O_PATH | O_CLOEXEC, 0, RESOLVE_BENEATH)),
        'EXDEV',
      );
      assert.equal(
        errCode(() => openat2(rfd, 'evil', O_PATH | O_CLOEXEC, 0, RESOLVE_BENEATH)),
        'EXDEV',
      );
      assert.equal(
        errCode(() => openat2(rfd, 'evil/passwd', O_PATH | O_CLOEXEC, 0, RESOLVE_NO_SYMLINKS)),
        'ELOOP',
      );
      const magic = `/proc/self/fd/${rfd}`;
      assert.equal(
        errCode(() => openat2(AT_FDCWD, magic, O_PATH | O_CLOEXEC, 0, RESOLVE_NO_MAGICLINKS)),
        'ELOOP',
      );
      // O_CREAT with a mode, created inside the root whatever the path says.
      const created = openat2(
        rfd,
        '/../../new',
        O_WRONLY | O_CREAT | O_CLOEXEC,
        0o600,
        RESOLVE_IN_ROOT,
      );
      assert.equal(fdPath(created), join(dir, 'root/new'));
      close(created);
      // A mode without O_CREAT is dropped, not refused.
      close(openat2(rfd, 'new', O_RDONLY | O_CLOEXEC, 0o777, RESOLVE_IN_ROOT));
    } finally {
      close(rfd);
    }
  });

  it('works from a worker thread', async () => {
    const tsxApi = createRequire(import.meta.url).resolve('tsx/cjs/api');
    const worker = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       const L = require(workerData.tsxApi).require(workerData.module, __filename);
       const st = L.fstatat(L.AT_FDCWD, workerData.path, 0);
       let code;
       try { L.close(-1); } catch (e) { code = e.code; }
       parentPort.postMessage({ ino: String(st.ino), code });`,
      {
        eval: true,
        workerData: { tsxApi, module: new URL('./linux.ts', import.meta.url).pathname, path: dir },
      },
    );
    const msg = await new Promise<{ ino: string; code: string }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    await worker.terminate();
    assert.equal(msg.ino, String(lstatSync(dir, { bigint: true }).ino));
    assert.equal(msg.code, 'EBADF');
  });
});
