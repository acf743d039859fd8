/**
 * @module linux
 * The Linux system calls Node lacks, through koffi (the one gateway to libc).
 *
 * The interface is addon-shaped on purpose: plain synchronous functions over
 * numbers, strings and Buffers, no koffi type in any signature, so a small
 * N-API addon could replace this file without touching a caller. libc is
 * loaded once, on the first call (importing this module loads nothing native),
 * and once per worker thread that calls in.
 *
 * Errors are thrown as node:fs throws them: an `Error` with `code` ('ENOENT'),
 * a negative `errno` (-2, as libuv reports it), `syscall` and, where a path was
 * involved, `path` (and `dest` for two-path calls), so callers translate them
 * exactly as they translate node:fs errors.
 *
 * Paths are `string | Buffer`: a string is passed as UTF-8, a Buffer byte for
 * byte (for names that are not valid UTF-8); neither may contain a NUL byte.
 * Relative paths resolve against `dirfd` as in the *at(2) calls; nothing here
 * adds containment by itself: that is `rootfs.ts`, built on `openat2`.
 *
 * Supported: Linux on x64 and arm64 (64-bit little-endian, glibc ≥ 2.33).
 */
import { constants as fsConstants } from 'node:fs';
import { createRequire } from 'node:module';
import { constants as osConstants, release } from 'node:os';
import { getSystemErrorMap } from 'node:util';

type Koffi = typeof import('koffi');

/** A path argument: a string (UTF-8) or the raw bytes of one. */
export type PathArg = string | Buffer;

/** A point in time with nanosecond precision, as `struct timespec`. */
export interface Timespec {
  /** Whole seconds since the epoch; may be negative. */
  sec: number;
  /** 0 ≤ nsec < 1e9, or UTIME_NOW / UTIME_OMIT where accepted. */
  nsec: number;
}

/** What `fstatat` reports (from statx(2)); `mode` carries the S_IF* type bits. */
export interface Stat {
  /** glibc's makedev(devMajor, devMinor), as node:fs reports `dev`. */
  dev: number;
  devMajor: number;
  devMinor: number;
  /** A bigint: overlayfs (xino) and others use all 64 bits. */
  ino: bigint;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdevMajor: number;
  rdevMinor: number;
  size: number;
  /** 512-byte blocks allocated. */
  blocks: number;
  atime: Timespec;
  mtime: Timespec;
  ctime: Timespec;
}

/** The error every wrapper throws: the shape of node:fs errors. */
export interface SysError extends Error {
  /** Negative, as node:fs reports it (-2 for ENOENT). */
  errno: number;
  /** libuv's name, as node:fs gives it (so EOPNOTSUPP reads 'ENOTSUP'). */
  code: string;
  syscall: string;
  path?: string;
  dest?: string;
}

// ---------------------------------------------------------------- constants

const ARCH_OK =
  process.platform === 'linux' && (process.arch === 'x64' || process.arch === 'arm64');

/** open(2) flags; the arch-dependent ones come from node:fs. */
export const O_RDONLY = 0;
export const O_WRONLY = 1;
export const O_RDWR = 2;
export const O_CREAT = fsConstants.O_CREAT ?? 0o100;
export const O_EXCL = fsConstants.O_EXCL ?? 0o200;
export const O_NOCTTY = fsConstants.O_NOCTTY ?? 0o400;
export const O_TRUNC = fsConstants.O_TRUNC ?? 0o1000;
export const O_APPEND = fsConstants.O_APPEND ?? 0o2000;
export const O_NONBLOCK = fsConstants.O_NONBLOCK ?? 0o4000;
export const O_DIRECTORY = fsConstants.O_DIRECTORY ?? 0o200000;
export const O_NOFOLLOW = fsConstants.O_NOFOLLOW ?? 0o400000;
export const O_NOATIME = fsConstants.O_NOATIME ?? 0o1000000;
/** Same value on x64 and arm64 (asm-generic). */
export const O_CLOEXEC = 0o2000000;
export const O_PATH = 0o10000000;
export const O_TMPFILE = 0o20000000 | O_DIRECTORY;

/** *at(2) flags. */
export const AT_FDCWD = -100;
export const AT_SYMLINK_NOFOLLOW = 0x100;
export const AT_REMOVEDIR = 0x200;
export const AT_SYMLINK_FOLLOW = 0x400;
export const AT_EMPTY_PATH = 0x1000;

/** openat2(2) `resolve` flags. */
export const RESOLVE_NO_XDEV = 0x01;
export const RESOLVE_NO_MAGICLINKS = 0x02;
export const RESOLVE_NO_SYMLINKS = 0x04;
export const RESOLVE_BENEATH = 0x08;
export const RESOLVE_IN_ROOT = 0x10;
export const RESOLVE_CACHED = 0x20;

/** renameat2(2) flags. */
export const RENAME_NOREPLACE = 1;
export const RENAME_EXCHANGE = 2;
export const RENAME_WHITEOUT = 4;

/** setxattr(2) flags. */
export const XATTR_CREATE = 1;
export const XATTR_REPLACE = 2;

/** utimensat(2) special `nsec` values. */
export const UTIME_NOW = 0x3fffffff;
export const UTIME_OMIT = 0x3ffffffe;

/** File type bits of `mode`. */
export const S_IFMT = 0o170000;
export const S_IFSOCK = 0o140000;
export const S_IFLNK = 0o120000;
export const S_IFREG = 0o100000;
export const S_IFBLK = 0o060000;
export const S_IFDIR = 0o040000;
export const S_IFCHR = 0o020000;
export const S_IFIFO = 0o010000;

/** mount(2) flags. */
export const MS_RDONLY = 0x1;
export const MS_NOSUID = 0x2;
export const MS_NODEV = 0x4;
export const MS_NOEXEC = 0x8;
export const MS_SYNCHRONOUS = 0x10;
export const MS_REMOUNT = 0x20;
export const MS_MANDLOCK = 0x40;
export const MS_DIRSYNC = 0x80;
export const MS_NOSYMFOLLOW = 0x100;
export const MS_NOATIME = 0x400;
export const MS_NODIRATIME = 0x800;
export const MS_BIND = 0x1000;
export const MS_MOVE = 0x2000;
export const MS_REC = 0x4000;
export const MS_SILENT = 0x8000;
export const MS_POSIXACL = 0x10000;
export const MS_UNBINDABLE = 0x20000;
export const MS_PRIVATE = 0x40000;
export const MS_SLAVE = 0x80000;
export const MS_SHARED = 0x100000;
export const MS_RELATIME = 0x200000;
export const MS_STRICTATIME = 0x1000000;
export const MS_LAZYTIME = 0x2000000;

/** umount2(2) flags. */
export const MNT_FORCE = 1;
export const MNT_DETACH = 2;
export const MNT_EXPIRE = 4;
export const UMOUNT_NOFOLLOW = 8;

/** fsmount(2) attributes (the new mount API). */
export const MOUNT_ATTR_RDONLY = 0x1;
export const MOUNT_ATTR_NOSUID = 0x2;
export const MOUNT_ATTR_NODEV = 0x4;
export const MOUNT_ATTR_NOEXEC = 0x8;
export const MOUNT_ATTR_NOATIME = 0x10;
export const MOUNT_ATTR_STRICTATIME = 0x20;
export const MOUNT_ATTR_NODIRATIME = 0x80;
export const MOUNT_ATTR_NOSYMFOLLOW = 0x200000;

// Syscall numbers: from 424 on, one table for every architecture.
const SYS_MOVE_MOUNT = 429;
const SYS_FSOPEN = 430;
const SYS_FSCONFIG = 431;
const SYS_FSMOUNT = 432;
const SYS_OPENAT2 = 437;
const SYS_FCHMODAT2 = 452;

const FSOPEN_CLOEXEC = 1;
const FSMOUNT_CLOEXEC = 1;
const FSCONFIG_SET_FLAG = 0;
const FSCONFIG_SET_STRING = 1;
const FSCONFIG_CMD_CREATE = 6;
const MOVE_MOUNT_F_EMPTY_PATH = 4;

const STATX_BASIC_STATS = 0x7ff;
const STATX_SIZE = 256;
const PATH_MAX = 4096;
const XATTR_SIZE_MAX = 65536;

// ------------------------------------------------------------------ loading

interface Libc {
  koffi: Koffi;
  close: (fd: number) => number;
  openat: (dirfd: number, path: PathArg, flags: number, mode: number) => number;
  openat2: (nr: number, dirfd: number, path: PathArg, how: Buffer, size: number) => number;
  mkdirat: (dirfd: number, path: PathArg, mode: number) => number;
  mknodat: (dirfd: number, path: PathArg, mode: number, dev: number | bigint) => number;
  symlinkat: (target: PathArg, dirfd: number, path: PathArg) => number;
  linkat: (od: number, op: PathArg, nd: number, np: PathArg, flags: number) => number;
  unlinkat: (dirfd: number, path: PathArg, flags: number) => number;
  renameat2: (od: number, op: PathArg, nd: number, np: PathArg, flags: number) => number;
  readlinkat: (dirfd: number, path: PathArg, buf: Buffer, size: number) => number;
  fchownat: (dirfd: number, path: PathArg, uid: number, gid: number, flags: number) => number;
  fchmodat: (dirfd: number, path: PathArg, mode: number, flags: number) => number;
  fchmodat2: (nr: number, dirfd: number, path: PathArg, mode: number, flags: number) => number;
  fchown: (fd: number, uid: number, gid: number) => number;
  fchmod: (fd: number, mode: number) => number;
  utimensat: (dirfd: number, path: PathArg | null, times: Buffer, flags: number) => number;
  futimens: (fd: number, times: Buffer) => number;
  statx: (dirfd: number, path: PathArg, flags: number, mask: number, buf: Buffer) => number;
  lsetxattr: (path: PathArg, name: string, value: Buffer, size: number, flags: number) => number;
  setxattr: (path: PathArg, name: string, value: Buffer, size: number, flags: number) => number;
  fsetxattr: (fd: number, name: string, value: Buffer, size: number, flags: number) => number;
  lgetxattr: (path: PathArg, name: string, buf: Buffer | null, size: number) => number;
  getxattr: (path: PathArg, name: string, buf: Buffer | null, size: number) => number;
  fgetxattr: (fd: number, name: string, buf: Buffer | null, size: number) => number;
  llistxattr: (path: PathArg, buf: Buffer | null, size: number) => number;
  listxattr: (path: PathArg, buf: Buffer | null, size: number) => number;
  flistxattr: (fd: number, buf: Buffer | null, size: number) => number;
  lremovexattr: (path: PathArg, name: string) => number;
  removexattr: (path: PathArg, name: string) => number;
  fremovexattr: (fd: number, name: string) => number;
  mount: (
    src: string | null,
    target: PathArg,
    type: string | null,
    flags: number,
    data: string | null,
  ) => number;
  umount2: (target: PathArg, flags: number) => number;
  fsopen: (nr: number, fstype: string, flags: number) => number;
  fsconfig: (
    nr: number,
    fd: number,
    cmd: number,
    key: string | null,
    value: string | null,
    aux: number,
  ) => number;
  fsmount: (nr: number, fd: number, flags: number, attrs: number) => number;
  moveMount: (
    nr: number,
    fromfd: number,
    from: string,
    tofd: number,
    to: PathArg,
    flags: number,
  ) => number;
  read: (fd: number, buf: Buffer, size: number) => number;
  syncfs: (fd: number) => number;
  flock: (fd: number, op: number) => number;
  dup3: (oldfd: number, newfd: number, flags: number) => number;
  getpagesize: () => number;
  pipe2: (fds: Buffer, flags: number) => number;
  waitpid: (pid: number, status: Buffer, options: number) => number;
  sigemptyset: (set: Buffer) => number;
  spawnFileActionsInit: (fa: Buffer) => number;
  spawnFileActionsDestroy: (fa: Buffer) => number;
  spawnFileActionsAddDup2: (fa: Buffer, fd: number, newfd: number) => number;
  spawnFileActionsAddChdir: (fa: Buffer, path: PathArg) => number;
  spawnattrInit: (attr: Buffer) => number;
  spawnattrDestroy: (attr: Buffer) => number;
  spawnattrSetflags: (attr: Buffer, flags: number) => number;
  spawnattrSetsigdefault: (attr: Buffer, set: Buffer) => number;
  spawnattrSetsigmask: (attr: Buffer, set: Buffer) => number;
  posixSpawn: (
    pid: Buffer,
    path: PathArg,
    fa: Buffer,
    attr: Buffer,
    argv: (string | null)[],
    envp: (string | null)[],
  ) => number;
}

let libc: Libc | undefined;

/** Loads libc through koffi on first use (per thread); later calls return the same bindings. */
function lib(): Libc {
  return libc ?? load();
}

function load(): Libc {
  if (!ARCH_OK) {
    throw new Error(
      `src/sys/linux.ts supports Linux on x64 and arm64, not ${process.platform}/${process.arch}`,
    );
  }
  const koffi = createRequire(import.meta.url)('koffi') as Koffi;
  const c = koffi.load('libc.so.6');
  // Variadic C functions (syscall, openat) are declared with fixed arguments: on
  // x64 and arm64 Linux the registers are the same and glibc reads them as such.
  const f = (proto: string) => c.func(proto) as (...args: any[]) => any;
  const path = 'const char *';
  libc = {
    koffi,
    close: f('int close(int fd)'),
    openat: f(`int openat(int dirfd, ${path} p, int flags, uint32_t mode)`),
    openat2: f(`long syscall(long nr, int dirfd, ${path} p, void *how, size_t size)`),
    mkdirat: f(`int mkdirat(int dirfd, ${path} p, uint32_t mode)`),
    mknodat: f(`int mknodat(int dirfd, ${path} p, uint32_t mode, uint64_t dev)`),
    symlinkat: f(`int symlinkat(${path} target, int dirfd, ${path} p)`),
    linkat: f(`int linkat(int od, ${path} op, int nd, ${path} np, int flags)`),
    unlinkat: f(`int unlinkat(int dirfd, ${path} p, int flags)`),
    renameat2: f(`int renameat2(int od, ${path} op, int nd, ${path} np, uint32_t flags)`),
    readlinkat: f(`long readlinkat(int dirfd, ${path} p, void *buf, size_t size)`),
    fchownat: f(`int fchownat(int dirfd, ${path} p, uint32_t uid, uint32_t gid, int flags)`),
    fchmodat: f(`int fchmodat(int dirfd, ${path} p, uint32_t mode, int flags)`),
    fchmodat2: f(`long syscall(long nr, int dirfd, ${path} p, uint32_t mode, uint32_t flags)`),
    fchown: f('int fchown(int fd, uint32_t uid, uint32_t gid)'),
    fchmod: f('int fchmod(int fd, uint32_t mode)'),
    utimensat: f(`int utimensat(int dirfd, ${path} p, void *times, int flags)`),
    futimens: f('int futimens(int fd, void *times)'),
    statx: f(`int statx(int dirfd, ${path} p, int flags, uint32_t mask, void *buf)`),
    lsetxattr: f(`int lsetxattr(${path} p, const char *n, void *v, size_t s, int flags)`),
    setxattr: f(`int setxattr(${path} p, const char *n, void *v, size_t s, int flags)`),
    fsetxattr: f('int fsetxattr(int fd, const char *n, void *v, size_t s, int flags)'),
    lgetxattr: f(`long lgetxattr(${path} p, const char *n, void *v, size_t s)`),
    getxattr: f(`long getxattr(${path} p, const char *n, void *v, size_t s)`),
    fgetxattr: f('long fgetxattr(int fd, const char *n, void *v, size_t s)'),
    llistxattr: f(`long llistxattr(${path} p, void *list, size_t s)`),
    listxattr: f(`long listxattr(${path} p, void *list, size_t s)`),
    flistxattr: f('long flistxattr(int fd, void *list, size_t s)'),
    lremovexattr: f(`int lremovexattr(${path} p, const char *n)`),
    removexattr: f(`int removexattr(${path} p, const char *n)`),
    fremovexattr: f('int fremovexattr(int fd, const char *n)'),
    mount: f(
      `int mount(const char *src, ${path} target, const char *type, unsigned long flags, const char *data)`,
    ),
    umount2: f(`int umount2(${path} target, int flags)`),
    fsopen: f('long syscall(long nr, const char *fstype, uint32_t flags)'),
    fsconfig: f(
      'long syscall(long nr, int fd, uint32_t cmd, const char *key, const char *value, int aux)',
    ),
    fsmount: f('long syscall(long nr, int fd, uint32_t flags, uint32_t attrs)'),
    moveMount: f(
      `long syscall(long nr, int fromfd, const char *from, int tofd, ${path} to, uint32_t flags)`,
    ),
    read: f('long read(int fd, void *buf, size_t size)'),
    syncfs: f('int syncfs(int fd)'),
    flock: f('int flock(int fd, int op)'),
    dup3: f('int dup3(int oldfd, int newfd, int flags)'),
    getpagesize: f('int getpagesize()'),
    pipe2: f('int pipe2(void *fds, int flags)'),
    waitpid: f('int waitpid(int pid, void *status, int options)'),
    sigemptyset: f('int sigemptyset(void *set)'),
    spawnFileActionsInit: f('int posix_spawn_file_actions_init(void *fa)'),
    spawnFileActionsDestroy: f('int posix_spawn_file_actions_destroy(void *fa)'),
    spawnFileActionsAddDup2: f('int posix_spawn_file_actions_adddup2(void *fa, int fd, int newfd)'),
    spawnFileActionsAddChdir: f(`int posix_spawn_file_actions_addchdir_np(void *fa, ${path} p)`),
    spawnattrInit: f('int posix_spawnattr_init(void *attr)'),
    spawnattrDestroy: f('int posix_spawnattr_destroy(void *attr)'),
    spawnattrSetflags: f('int posix_spawnattr_setflags(void *attr, short flags)'),
    spawnattrSetsigdefault: f('int posix_spawnattr_setsigdefault(void *attr, void *set)'),
    spawnattrSetsigmask: f('int posix_spawnattr_setsigmask(void *attr, void *set)'),
    posixSpawn: f(
      `int posix_spawn(void *pid, ${path} p, void *fa, void *attr, const char **argv, const char **envp)`,
    ),
  };
  return libc;
}

// ------------------------------------------------------------------- errors

const errorMap = getSystemErrorMap();
/** Names libuv's map lacks (ECHILD, ESRCH's peers): from os.constants.errno. */
const errnoNames = new Map(Object.entries(osConstants.errno).map(([name, n]) => [n, name]));

/** Builds the node:fs-shaped error for a positive errno value. */
export function sysError(
  errnum: number,
  syscall: string,
  path?: PathArg,
  dest?: PathArg,
): SysError {
  const p = path === undefined ? undefined : show(path);
  const d = dest === undefined ? undefined : show(dest);
  const err = new Error(errnoMessage(errnum, syscall, p, d)) as SysError;
  err.errno = -errnum;
  err.code = errnoCode(errnum);
  err.syscall = syscall;
  if (p !== undefined) err.path = p;
  if (d !== undefined) err.dest = d;
  return err;
}

/**
 * Points an existing SysError at other paths (RootFs names the root-relative
 * path it was given, not the single name the syscall saw). In place; the
 * stack is left alone, since formatting it is costly.
 */
export function relabelSysError(err: SysError, path: PathArg, dest?: PathArg): SysError {
  err.path = show(path);
  if (dest === undefined) delete err.dest;
  else err.dest = show(dest);
  err.message = errnoMessage(-err.errno, err.syscall, err.path, err.dest);
  return err;
}

/** The symbolic name of a positive errno value ('ENOENT'). */
export function errnoCode(errnum: number): string {
  return errorMap.get(-errnum)?.[0] ?? errnoNames.get(errnum) ?? `E${errnum}`;
}

/** node:fs's message: "ENOENT: no such file or directory, open 'x'" (-> 'y' for two paths). */
function errnoMessage(errnum: number, syscall: string, path?: string, dest?: string): string {
  const [code, desc] = errorMap.get(-errnum) ?? [errnoCode(errnum), `error ${errnum}`];
  let message = `${code}: ${desc}, ${syscall}`;
  if (path !== undefined) message += ` '${path}'`;
  if (dest !== undefined) message += ` -> '${dest}'`;
  return message;
}

/** True when `err` is a SysError (or any node:fs error) with one of the codes. */
export function isErrno(err: unknown, ...codes: string[]): err is SysError {
  return err instanceof Error && codes.includes((err as NodeJS.ErrnoException).code ?? '');
}

function show(p: PathArg): string {
  return typeof p === 'string' ? p : p.toString('utf8');
}

/** The errno of the call that just failed (koffi keeps the thread's errno). */
function fail(syscall: string, path?: PathArg, dest?: PathArg): SysError {
  return sysError(lib().koffi.errno(), syscall, path, dest);
}

const NUL_BUF = Buffer.alloc(1);

/** Checks a path for NUL bytes and terminates Buffers, as C wants them. */
function cpath(p: PathArg, argName = 'path'): PathArg {
  if (typeof p === 'string') {
    if (p.includes('\0')) throw nulError(argName, p);
    return p;
  }
  const nul = p.indexOf(0);
  if (nul === p.length - 1 && p.length > 0) return p;
  if (nul !== -1) throw nulError(argName, p.toString('utf8'));
  return Buffer.concat([p, NUL_BUF]);
}

function nulError(argName: string, value: string): Error {
  const err = new TypeError(
    `The argument '${argName}' must be a string or Buffer without null bytes. Received ${JSON.stringify(value)}`,
  ) as TypeError & { code: string };
  err.code = 'ERR_INVALID_ARG_VALUE';
  return err;
}

function checkName(name: string, argName = 'name'): string {
  if (name.includes('\0')) throw nulError(argName, name);
  return name;
}

function cstr(s: string | null, argName: string): string | null {
  return s === null ? null : checkName(s, argName);
}

// ------------------------------------------------------------ scratch space

// One set per thread (module instances are per thread); every use is synchronous.
const how = Buffer.alloc(24);
const times = Buffer.alloc(32);
const statxBuf = Buffer.alloc(STATX_SIZE);
const linkBuf = Buffer.alloc(PATH_MAX);
const xattrBuf = Buffer.alloc(4096);

function putU64(buf: Buffer, off: number, v: number): void {
  buf.writeUInt32LE(v >>> 0, off);
  buf.writeUInt32LE(Math.floor(v / 0x1_0000_0000) >>> 0, off + 4);
}

function putTimespec(buf: Buffer, off: number, t: Timespec): void {
  const hi = Math.floor(t.sec / 0x1_0000_0000);
  buf.writeUInt32LE((t.sec - hi * 0x1_0000_0000) >>> 0, off);
  buf.writeInt32LE(hi, off + 4);
  buf.writeUInt32LE(t.nsec >>> 0, off + 8);
  buf.writeUInt32LE(0, off + 12);
}

// -------------------------------------------------------------- the kernel

let openat2Checked = false;

/**
 * Throws a clear error unless the kernel has openat2(2) (Linux ≥ 5.6) and
 * allows it. Probes once per thread; `RootFs.open` calls it.
 */
export function checkOpenat2(): void {
  if (openat2Checked) return;
  let fd: number;
  try {
    fd = openat2(AT_FDCWD, '/', O_PATH | O_DIRECTORY | O_CLOEXEC, 0, RESOLVE_NO_MAGICLINKS);
  } catch (err) {
    if (isErrno(err, 'ENOSYS', 'EPERM')) {
      throw new Error(
        `openat2(2) is not available (${(err as SysError).code}) on kernel ${release()}: berth needs ` +
          'Linux ≥ 5.6 with openat2 allowed (check seccomp) to unpack layers safely',
      );
    }
    throw err;
  }
  close(fd);
  openat2Checked = true;
}

/** The page size: mount(2) copies at most one page of `data`. */
export function pageSize(): number {
  return lib().getpagesize();
}

// --------------------------------------------------------------------- fds

/** close(2). Throws EBADF for a closed fd (and EIO/EINTR as the kernel reports, the fd is gone anyway). */
export function close(fd: number): void {
  if (lib().close(fd) < 0) throw fail('close');
}

/**
 * openat(2). `mode` is used with O_CREAT or O_TMPFILE. Returns a new fd the
 * caller closes. O_CLOEXEC is not implied. Common use: `O_PATH | O_NOFOLLOW`
 * to hold an entry (symlinks included) without opening it.
 */
export function openat(dirfd: number, path: PathArg, flags: number, mode = 0): number {
  const fd = lib().openat(dirfd, cpath(path), flags, mode);
  if (fd < 0) throw fail('openat', path);
  return fd;
}

/** `openat(dirfd, path, O_PATH | O_NOFOLLOW | O_CLOEXEC)`: a handle on the entry itself. */
export function openPath(dirfd: number, path: PathArg, flags = 0): number {
  return openat(dirfd, path, O_PATH | O_NOFOLLOW | O_CLOEXEC | flags);
}

/**
 * openat2(2) (through syscall 437) with `struct open_how {flags, mode, resolve}`.
 * `resolve` takes RESOLVE_* flags: RESOLVE_IN_ROOT makes `dirfd` the root for
 * `..`, absolute paths and symlinks; RESOLVE_BENEATH fails (EXDEV) on any
 * escape instead. `mode` is passed only with O_CREAT or O_TMPFILE (the kernel
 * refuses it otherwise). Returns a new fd the caller closes.
 */
export function openat2(
  dirfd: number,
  path: PathArg,
  flags: number,
  mode: number,
  resolve: number,
): number {
  putU64(how, 0, flags);
  putU64(how, 8, flags & (O_CREAT | O_TMPFILE) ? mode : 0);
  putU64(how, 16, resolve);
  const fd = lib().openat2(SYS_OPENAT2, dirfd, cpath(path), how, 24);
  if (fd < 0) throw fail('openat2', path);
  return fd;
}

// ----------------------------------------------------------- entries (*at)

/** mkdirat(2). The process umask filters `mode`: chmod afterwards for exact bits. */
export function mkdirat(dirfd: number, path: PathArg, mode: number): void {
  if (lib().mkdirat(dirfd, cpath(path), mode) < 0) throw fail('mkdirat', path);
}

/**
 * glibc's makedev: the dev_t of a device number. A number while exact
 * (major < 4096 in practice), a bigint beyond.
 */
export function makedev(major: number, minor: number): number | bigint {
  const lo = ((major & 0xfff) << 8) | (minor & 0xff);
  const mid = (minor & 0xffffff00) >>> 0; // shifted left by 12
  const hi = (major & 0xfffff000) >>> 0; // shifted left by 32
  if (hi === 0) return mid * 4096 + (lo >>> 0);
  return (BigInt(hi) << 32n) | (BigInt(mid) << 12n) | BigInt(lo >>> 0);
}

/**
 * mknodat(2). `mode` holds the type (S_IFREG, S_IFCHR, S_IFBLK, S_IFIFO,
 * S_IFSOCK) and the permission bits (filtered by the umask); `major`/`minor`
 * name the device for S_IFCHR and S_IFBLK. Devices need CAP_MKNOD, except the
 * 0/0 character device (an overlay whiteout), which Linux ≥ 5.8 lets anyone make.
 */
export function mknodat(dirfd: number, path: PathArg, mode: number, major = 0, minor = 0): void {
  if (lib().mknodat(dirfd, cpath(path), mode, makedev(major, minor)) < 0) {
    throw fail('mknodat', path);
  }
}

/** symlinkat(2): creates `path` (relative to `dirfd`) pointing at `target`, stored verbatim. */
export function symlinkat(target: PathArg, dirfd: number, path: PathArg): void {
  if (lib().symlinkat(cpath(target, 'target'), dirfd, cpath(path)) < 0) {
    throw fail('symlinkat', target, path);
  }
}

/**
 * linkat(2). With flags 0 a symlink at `oldpath` is linked itself (not its
 * target); AT_SYMLINK_FOLLOW follows it; AT_EMPTY_PATH with oldpath '' links
 * the file `olddirfd` refers to (needs CAP_DAC_READ_SEARCH).
 */
export function linkat(
  olddirfd: number,
  oldpath: PathArg,
  newdirfd: number,
  newpath: PathArg,
  flags = 0,
): void {
  if (lib().linkat(olddirfd, cpath(oldpath), newdirfd, cpath(newpath, 'newpath'), flags) < 0) {
    throw fail('linkat', oldpath, newpath);
  }
}

/** unlinkat(2): removes a non-directory, or an empty directory with AT_REMOVEDIR. */
export function unlinkat(dirfd: number, path: PathArg, flags = 0): void {
  if (lib().unlinkat(dirfd, cpath(path), flags) < 0) throw fail('unlinkat', path);
}

/** renameat2(2) with RENAME_NOREPLACE / RENAME_EXCHANGE / RENAME_WHITEOUT. */
export function renameat2(
  olddirfd: number,
  oldpath: PathArg,
  newdirfd: number,
  newpath: PathArg,
  flags = 0,
): void {
  if (lib().renameat2(olddirfd, cpath(oldpath), newdirfd, cpath(newpath, 'newpath'), flags) < 0) {
    throw fail('renameat2', oldpath, newpath);
  }
}

/** readlinkat(2): the target's raw bytes (a symlink target need not be UTF-8). */
export function readlinkat(dirfd: number, path: PathArg): Buffer {
  const n = lib().readlinkat(dirfd, cpath(path), linkBuf, PATH_MAX);
  if (n < 0) throw fail('readlinkat', path);
  return Buffer.from(linkBuf.subarray(0, n));
}

/**
 * statx(2) as fstatat: AT_SYMLINK_NOFOLLOW for lstat semantics, AT_EMPTY_PATH
 * with path '' for `dirfd` itself (O_PATH fds included).
 */
export function fstatat(dirfd: number, path: PathArg, flags = 0): Stat {
  if (lib().statx(dirfd, cpath(path), flags, STATX_BASIC_STATS, statxBuf) < 0) {
    throw fail('statx', path);
  }
  return decodeStatx(statxBuf);
}

function decodeStatx(b: Buffer): Stat {
  const devMajor = b.readUInt32LE(136);
  const devMinor = b.readUInt32LE(140);
  const dev = makedev(devMajor, devMinor);
  return {
    dev: typeof dev === 'number' ? dev : Number(dev),
    devMajor,
    devMinor,
    ino: b.readBigUInt64LE(32),
    mode: b.readUInt16LE(28),
    nlink: b.readUInt32LE(16),
    uid: b.readUInt32LE(20),
    gid: b.readUInt32LE(24),
    rdevMajor: b.readUInt32LE(128),
    rdevMinor: b.readUInt32LE(132),
    size: b.readUInt32LE(40) + b.readUInt32LE(44) * 0x1_0000_0000,
    blocks: b.readUInt32LE(48) + b.readUInt32LE(52) * 0x1_0000_0000,
    atime: timestamp(b, 64),
    mtime: timestamp(b, 112),
    ctime: timestamp(b, 96),
  };
}

/** `fstatat`, but undefined instead of throwing for ENOENT and ENOTDIR (node:fs's `throwIfNoEntry: false`). */
export function tryFstatat(dirfd: number, path: PathArg, flags = 0): Stat | undefined {
  if (lib().statx(dirfd, cpath(path), flags, STATX_BASIC_STATS, statxBuf) < 0) {
    const e = lib().koffi.errno();
    if (e === 2 /* ENOENT */ || e === 20 /* ENOTDIR */) return undefined;
    throw sysError(e, 'statx', path);
  }
  return decodeStatx(statxBuf);
}

function timestamp(b: Buffer, off: number): Timespec {
  return {
    sec: b.readUInt32LE(off) + b.readInt32LE(off + 4) * 0x1_0000_0000,
    nsec: b.readUInt32LE(off + 8),
  };
}

/**
 * fchownat(2). Pass AT_SYMLINK_NOFOLLOW to change a symlink itself. -1 leaves
 * an id unchanged. Changing the owner clears setuid/setgid: chown, then chmod.
 */
export function fchownat(dirfd: number, path: PathArg, uid: number, gid: number, flags = 0): void {
  if (lib().fchownat(dirfd, cpath(path), uid >>> 0, gid >>> 0, flags) < 0) {
    throw fail('fchownat', path);
  }
}

let haveFchmodat2 = true;

/**
 * fchmodat(2). With AT_SYMLINK_NOFOLLOW the last component is not followed
 * (fchmodat2, Linux ≥ 6.6, else glibc's /proc emulation); a symlink then fails
 * with EOPNOTSUPP, since Linux has no symlink modes.
 */
export function fchmodat(dirfd: number, path: PathArg, mode: number, flags = 0): void {
  const L = lib();
  const p = cpath(path);
  if (flags !== 0 && haveFchmodat2) {
    if (L.fchmodat2(SYS_FCHMODAT2, dirfd, p, mode, flags) === 0) return;
    const e = L.koffi.errno();
    if (e !== 38 /* ENOSYS */) throw sysError(e, 'fchmodat2', path);
    haveFchmodat2 = false;
  }
  if (L.fchmodat(dirfd, p, mode, flags) < 0) throw fail('fchmodat', path);
}

/**
 * utimensat(2) with nanosecond times; `nsec` may be UTIME_NOW or UTIME_OMIT.
 * AT_SYMLINK_NOFOLLOW sets a symlink's own times.
 */
export function utimensat(
  dirfd: number,
  path: PathArg,
  atime: Timespec,
  mtime: Timespec,
  flags = 0,
): void {
  putTimespec(times, 0, atime);
  putTimespec(times, 16, mtime);
  if (lib().utimensat(dirfd, cpath(path), times, flags) < 0) throw fail('utimensat', path);
}

/** fchown(2) on an open (not O_PATH) fd. */
export function fchown(fd: number, uid: number, gid: number): void {
  if (lib().fchown(fd, uid >>> 0, gid >>> 0) < 0) throw fail('fchown');
}

/** fchmod(2) on an open (not O_PATH) fd. */
export function fchmod(fd: number, mode: number): void {
  if (lib().fchmod(fd, mode) < 0) throw fail('fchmod');
}

/** futimens(3) on an open (not O_PATH) fd. */
export function futimens(fd: number, atime: Timespec, mtime: Timespec): void {
  putTimespec(times, 0, atime);
  putTimespec(times, 16, mtime);
  if (lib().futimens(fd, times) < 0) throw fail('futimens');
}

/** syncfs(2): flushes the filesystem holding `fd`. */
export function syncfs(fd: number): void {
  if (lib().syncfs(fd) < 0) throw fail('syncfs');
}

/** flock(2) operations. */
export const LOCK_SH = 1;
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;

/**
 * flock(2): an advisory lock on the open file `fd`, released with LOCK_UN or
 * when the file is closed (or the process dies). Use LOCK_NB: a blocking
 * call would stop this thread's event loop. EWOULDBLOCK (EAGAIN) when held.
 */
export function flock(fd: number, op: number): void {
  if (lib().flock(fd, op) < 0) throw fail('flock');
}

/**
 * dup3(2): makes `newfd` refer to the open file of `oldfd` (closing what
 * `newfd` was), e.g. to point a process's stderr at another file.
 */
export function dup3(oldfd: number, newfd: number, flags = 0): void {
  if (lib().dup3(oldfd, newfd, flags) < 0) throw fail('dup3');
}

// ---------------------------------------------------------------- processes

/** pipe2(2): `[read end, write end]`. */
export function pipe2(flags: number): [number, number] {
  const fds = Buffer.alloc(8);
  if (lib().pipe2(fds, flags) < 0) throw fail('pipe2');
  return [fds.readInt32LE(0), fds.readInt32LE(4)];
}

export interface PosixSpawnOptions {
  /** `NAME=value` strings. */
  env: readonly string[];
  /** The child's working directory. */
  cwd: string;
  /** The fds that become the child's 0, 1 and 2. */
  stdio: readonly [number, number, number];
  /** A new session (and process group), as setsid(2). */
  setsid: boolean;
}

// glibc's posix_spawn types are opaque; these sizes cover x64 and arm64 (80, 336 and 128 bytes).
const SPAWN_FILE_ACTIONS_SIZE = 256;
const SPAWNATTR_SIZE = 512;
const SIGSET_SIZE = 128;
const POSIX_SPAWN_SETSIGDEF = 0x04;
const POSIX_SPAWN_SETSIGMASK = 0x08;
const POSIX_SPAWN_SETSID = 0x80;

/**
 * posix_spawn(3): runs `path` with `argv` and answers its pid. glibc starts
 * the child vfork-style (CLONE_VM | CLONE_VFORK), so unlike fork(2) it costs
 * nothing in proportion to the caller's memory. As libuv does for its
 * children, every signal gets its default action and none is blocked (Node
 * ignores SIGPIPE, and an ignored signal stays ignored across exec). Fds
 * other than `stdio` are inherited unless they are close-on-exec. The caller
 * reaps the child ({@link waitpidNoHang}).
 */
export function posixSpawn(path: string, argv: readonly string[], opts: PosixSpawnOptions): number {
  const L = lib();
  const fa = Buffer.alloc(SPAWN_FILE_ACTIONS_SIZE);
  const attr = Buffer.alloc(SPAWNATTR_SIZE);
  // Every bit set, not sigfillset(3): that leaves out glibc's internal signals
  // (32, 33), which posix_spawn then hands to the child ignored.
  const all = Buffer.alloc(SIGSET_SIZE, 0xff);
  const none = Buffer.alloc(SIGSET_SIZE);
  L.sigemptyset(none);
  // These return an errno value instead of setting errno.
  const check = (rc: number, call: string) => {
    if (rc !== 0) throw sysError(rc, call, path);
  };
  check(L.spawnFileActionsInit(fa), 'posix_spawn_file_actions_init');
  try {
    check(L.spawnattrInit(attr), 'posix_spawnattr_init');
    try {
      opts.stdio.forEach((fd, target) => {
        check(L.spawnFileActionsAddDup2(fa, fd, target), 'posix_spawn_file_actions_adddup2');
      });
      check(
        L.spawnFileActionsAddChdir(fa, cpath(opts.cwd)),
        'posix_spawn_file_actions_addchdir_np',
      );
      const flags =
        POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | (opts.setsid ? POSIX_SPAWN_SETSID : 0);
      check(L.spawnattrSetflags(attr, flags), 'posix_spawnattr_setflags');
      check(L.spawnattrSetsigdefault(attr, all), 'posix_spawnattr_setsigdefault');
      check(L.spawnattrSetsigmask(attr, none), 'posix_spawnattr_setsigmask');
      const pid = Buffer.alloc(4);
      for (const a of [...argv, ...opts.env]) checkName(a, 'argv/env');
      check(
        L.posixSpawn(pid, cpath(path), fa, attr, [...argv, null], [...opts.env, null]),
        'posix_spawn',
      );
      return pid.readInt32LE(0);
    } finally {
      L.spawnattrDestroy(attr);
    }
  } finally {
    L.spawnFileActionsDestroy(fa);
  }
}

const WNOHANG = 1;

/** How a reaped child ended: its exit status, or the number of the signal that killed it. */
export interface WaitStatus {
  code: number | null;
  signal: number | null;
}

/** waitpid(pid, WNOHANG): undefined while the child runs, else how it ended (it is reaped). */
export function waitpidNoHang(pid: number): WaitStatus | undefined {
  const status = Buffer.alloc(4);
  const r = lib().waitpid(pid, status, WNOHANG);
  if (r < 0) throw fail('waitpid');
  if (r === 0) return undefined;
  const s = status.readInt32LE(0);
  const sig = s & 0x7f;
  return sig === 0 ? { code: (s >> 8) & 0xff, signal: null } : { code: null, signal: sig };
}

// ------------------------------------------------------------------- xattrs
//
// Values are Buffers in and out, byte for byte. The path-based calls resolve
// `path` from the cwd like lsetxattr(2) does: RootFs reaches them through
// /proc/self/fd/<dirfd>/<name> to keep them inside its root. Reading a missing
// attribute throws ENODATA.

/** lsetxattr(2): on `path` itself, a symlink included (only trusted.* and security.* there). */
export function lsetxattr(path: PathArg, name: string, value: Buffer, flags = 0): void {
  if (lib().lsetxattr(cpath(path), checkName(name), value, value.length, flags) < 0) {
    throw fail('lsetxattr', path);
  }
}

/** setxattr(2): follows a final symlink (used on /proc/self/fd/N). */
export function setxattr(path: PathArg, name: string, value: Buffer, flags = 0): void {
  if (lib().setxattr(cpath(path), checkName(name), value, value.length, flags) < 0) {
    throw fail('setxattr', path);
  }
}

/** fsetxattr(2) on an open (not O_PATH) fd. */
export function fsetxattr(fd: number, name: string, value: Buffer, flags = 0): void {
  if (lib().fsetxattr(fd, checkName(name), value, value.length, flags) < 0) {
    throw fail('fsetxattr');
  }
}

/** lgetxattr(2): the value's bytes (a copy). */
export function lgetxattr(path: PathArg, name: string): Buffer {
  const p = cpath(path);
  const n = checkName(name);
  return readSized('lgetxattr', path, (buf, size) => lib().lgetxattr(p, n, buf, size));
}

/** getxattr(2): follows a final symlink. */
export function getxattr(path: PathArg, name: string): Buffer {
  const p = cpath(path);
  const n = checkName(name);
  return readSized('getxattr', path, (buf, size) => lib().getxattr(p, n, buf, size));
}

/** fgetxattr(2) on an open (not O_PATH) fd. */
export function fgetxattr(fd: number, name: string): Buffer {
  const n = checkName(name);
  return readSized('fgetxattr', undefined, (buf, size) => lib().fgetxattr(fd, n, buf, size));
}

/** llistxattr(2): the attribute names (UTF-8), in the filesystem's order. */
export function llistxattr(path: PathArg): string[] {
  const p = cpath(path);
  return names(readSized('llistxattr', path, (buf, size) => lib().llistxattr(p, buf, size)));
}

/** listxattr(2): follows a final symlink. */
export function listxattr(path: PathArg): string[] {
  const p = cpath(path);
  return names(readSized('listxattr', path, (buf, size) => lib().listxattr(p, buf, size)));
}

/** flistxattr(2) on an open (not O_PATH) fd. */
export function flistxattr(fd: number): string[] {
  return names(readSized('flistxattr', undefined, (buf, size) => lib().flistxattr(fd, buf, size)));
}

/** lremovexattr(2). */
export function lremovexattr(path: PathArg, name: string): void {
  if (lib().lremovexattr(cpath(path), checkName(name)) < 0) throw fail('lremovexattr', path);
}

/** removexattr(2): follows a final symlink. */
export function removexattr(path: PathArg, name: string): void {
  if (lib().removexattr(cpath(path), checkName(name)) < 0) throw fail('removexattr', path);
}

/** fremovexattr(2) on an open (not O_PATH) fd. */
export function fremovexattr(fd: number, name: string): void {
  if (lib().fremovexattr(fd, checkName(name)) < 0) throw fail('fremovexattr');
}

/**
 * Reads a variable-size result: first into a 4 KiB scratch buffer (the kernel
 * allocates as much as we offer, so offering 64 KiB every time costs), then,
 * on ERANGE, asks the size and reads again.
 */
function readSized(
  syscall: string,
  path: PathArg | undefined,
  call: (buf: Buffer | null, size: number) => number,
): Buffer {
  let n = call(xattrBuf, xattrBuf.length);
  if (n >= 0) return Buffer.from(xattrBuf.subarray(0, n));
  for (let attempt = 0; attempt < 3; attempt++) {
    const e = lib().koffi.errno();
    if (e !== 34 /* ERANGE */) throw sysError(e, syscall, path);
    n = call(null, 0);
    if (n < 0) throw fail(syscall, path);
    const big = Buffer.alloc(Math.min(Math.max(n, 1), XATTR_SIZE_MAX));
    n = call(big, big.length);
    if (n >= 0) return big.subarray(0, n);
  }
  throw fail(syscall, path);
}

function names(list: Buffer): string[] {
  const out: string[] = [];
  let start = 0;
  for (let i = 0; i < list.length; i++) {
    if (list[i] === 0) {
      if (i > start) out.push(list.toString('utf8', start, i));
      start = i + 1;
    }
  }
  return out;
}

// ------------------------------------------------------------------- mounts

/**
 * mount(2). `source`, `fstype` and `data` may be null (bind mounts, remounts,
 * propagation changes). `data` must fit in a page (see `mountAll`).
 */
export function mount(
  source: string | null,
  target: PathArg,
  fstype: string | null,
  flags: number,
  data: string | null = null,
): void {
  const L = lib();
  const src = cstr(source, 'source');
  const type = cstr(fstype, 'fstype');
  if (L.mount(src, cpath(target, 'target'), type, flags, cstr(data, 'data')) < 0) {
    throw fail('mount', target);
  }
}

/** umount2(2) with MNT_DETACH / MNT_FORCE / UMOUNT_NOFOLLOW. EINVAL: not a mount point. */
export function umount2(target: PathArg, flags = 0): void {
  if (lib().umount2(cpath(target, 'target'), flags) < 0) throw fail('umount2', target);
}

/** One fsconfig(2) parameter: a string value, or `null` for a flag. */
export interface FsParam {
  key: string;
  value: string | null;
}

/**
 * Mounts a new filesystem through the new mount API (Linux ≥ 5.2): fsopen,
 * one fsconfig per parameter (no page limit on the whole; the kernel takes
 * string values up to 255 bytes), fsmount with MOUNT_ATTR_* `attrs`, then
 * move_mount onto `target`. Used for overlays whose lowerdir list is too long
 * for mount(2) (`lowerdir+`, Linux ≥ 6.5). Errors carry the kernel's own
 * message from the fs context log when there is one.
 */
export function fsmountAt(fstype: string, params: FsParam[], attrs: number, target: PathArg): void {
  const L = lib();
  for (const { key, value } of params) {
    checkName(key, 'key');
    cstr(value, 'value');
  }
  const to = cpath(target, 'target');
  const fsfd = L.fsopen(SYS_FSOPEN, checkName(fstype, 'fstype'), FSOPEN_CLOEXEC);
  if (fsfd < 0) throw fail('fsopen', target);
  let mfd = -1;
  try {
    for (const { key, value } of params) {
      const cmd = value === null ? FSCONFIG_SET_FLAG : FSCONFIG_SET_STRING;
      if (L.fsconfig(SYS_FSCONFIG, fsfd, cmd, key, value, 0) < 0) {
        throw withLog(fail('fsconfig', target), fsfd, `${key}${value === null ? '' : `=${value}`}`);
      }
    }
    if (L.fsconfig(SYS_FSCONFIG, fsfd, FSCONFIG_CMD_CREATE, null, null, 0) < 0) {
      throw withLog(fail('fsconfig', target), fsfd, 'create');
    }
    mfd = L.fsmount(SYS_FSMOUNT, fsfd, FSMOUNT_CLOEXEC, attrs);
    if (mfd < 0) throw fail('fsmount', target);
    if (L.moveMount(SYS_MOVE_MOUNT, mfd, '', AT_FDCWD, to, MOVE_MOUNT_F_EMPTY_PATH) < 0) {
      throw fail('move_mount', target);
    }
  } finally {
    if (mfd >= 0) L.close(mfd);
    L.close(fsfd);
  }
}

/** Appends the fs context's log messages ("e overlay: …") to an fsconfig error. */
function withLog(err: SysError, fsfd: number, what: string): SysError {
  const L = lib();
  const buf = Buffer.alloc(1024);
  const lines: string[] = [];
  for (let i = 0; i < 16; i++) {
    const n = L.read(fsfd, buf, buf.length);
    if (n <= 0) break;
    lines.push(buf.toString('utf8', 0, n));
  }
  err.message += ` (${what}${lines.length ? `: ${lines.join('; ')}` : ''})`;
  return err;
}

// ----------------------------------------------------------- shim's calls
//
// The calls berth's shim needs (subreaper, fd passing, ptys, eventfd/epoll),
// bound on first use in a table of their own. Pointers inside structures
// (msghdr) point into native memory from koffi.alloc, which never moves; every
// use of it is synchronous except epollWait's, which owns its own block.

interface ShimLibc {
  prctl: (op: number, a: number, b: number, c: number, d: number) => number;
  fcntl: (fd: number, cmd: number, arg: number) => number;
  ioctl: (fd: number, req: number, arg: Buffer) => number;
  recvmsg: (fd: number, msg: unknown, flags: number) => number;
  sendmsg: (fd: number, msg: unknown, flags: number) => number;
  eventfd: (initval: number, flags: number) => number;
  epollCreate1: (flags: number) => number;
  epollCtl: (epfd: number, op: number, fd: number, event: Buffer | null) => number;
  epollWait: ((epfd: number, events: unknown, max: number, timeout: number) => number) & {
    async: (
      epfd: number,
      events: unknown,
      max: number,
      timeout: number,
      cb: (err: unknown, res: number) => void,
    ) => void;
  };
  posixOpenpt: (flags: number) => number;
  grantpt: (fd: number) => number;
  unlockpt: (fd: number) => number;
  ptsnameR: (fd: number, buf: Buffer, size: number) => number;
  write: (fd: number, buf: Buffer, size: number) => number;
}

let shimLibc: ShimLibc | undefined;

function shimLib(): ShimLibc {
  if (shimLibc) return shimLibc;
  const { koffi } = lib();
  const c = koffi.load('libc.so.6');
  const f = (proto: string) => c.func(proto) as (...args: any[]) => any;
  shimLibc = {
    prctl: f(
      'int prctl(int op, unsigned long a, unsigned long b, unsigned long c, unsigned long d)',
    ),
    fcntl: f('int fcntl(int fd, int cmd, int arg)'),
    ioctl: f('int ioctl(int fd, unsigned long req, void *arg)'),
    recvmsg: f('long recvmsg(int fd, void *msg, int flags)'),
    sendmsg: f('long sendmsg(int fd, void *msg, int flags)'),
    eventfd: f('int eventfd(unsigned int initval, int flags)'),
    epollCreate1: f('int epoll_create1(int flags)'),
    epollCtl: f('int epoll_ctl(int epfd, int op, int fd, void *event)'),
    epollWait: f('int epoll_wait(int epfd, void *events, int max, int timeout)') as any,
    posixOpenpt: f('int posix_openpt(int flags)'),
    grantpt: f('int grantpt(int fd)'),
    unlockpt: f('int unlockpt(int fd)'),
    ptsnameR: f('int ptsname_r(int fd, void *buf, size_t size)'),
    write: f('long write(int fd, void *buf, size_t size)'),
  };
  return shimLibc;
}

function shimFail(syscall: string, path?: PathArg): SysError {
  return sysError(lib().koffi.errno(), syscall, path);
}

/** prctl(2) with integer arguments (PR_SET_CHILD_SUBREAPER = 36, …). */
export function prctl(op: number, arg2: number, arg3 = 0, arg4 = 0, arg5 = 0): number {
  const r = shimLib().prctl(op, arg2, arg3, arg4, arg5);
  if (r < 0) throw shimFail('prctl');
  return r;
}

/** fcntl(2) with an integer argument (F_DUPFD_CLOEXEC, F_GETFD, F_SETFD, F_GETFL, F_SETFL). */
export function fcntl(fd: number, cmd: number, arg = 0): number {
  const r = shimLib().fcntl(fd, cmd, arg);
  if (r < 0) throw shimFail('fcntl');
  return r;
}

/** ioctl(2) whose argument is a pointer to `arg` (read and/or written in place). */
export function ioctl(fd: number, request: number, arg: Buffer): number {
  const r = shimLib().ioctl(fd, request, arg);
  if (r < 0) throw shimFail('ioctl');
  return r;
}

/** write(2), non-blocking fds only on the event loop. Answers the bytes written. */
export function write(fd: number, buf: Buffer): number {
  const r = shimLib().write(fd, buf, buf.length);
  if (r < 0) throw shimFail('write');
  return r;
}

// msghdr (56 bytes), one iovec (16) and the control buffer, in one native block.
const MSG_HDR = 0;
const MSG_IOV = 64;
const MSG_CONTROL = 128;
const MSG_CONTROL_SIZE = 128; // room for 16 fds
const MSG_DATA = 256;
const MSG_DATA_SIZE = 4096;
const SOL_SOCKET = 1;
const SCM_RIGHTS = 1;
const MSG_CTRUNC = 0x8;
const MSG_DONTWAIT = 0x40;
const MSG_NOSIGNAL = 0x4000;
const MSG_CMSG_CLOEXEC = 0x40000000;

interface MsgBlock {
  ptr: unknown;
  addr: bigint;
  view: Buffer;
}
let msgBlock: MsgBlock | undefined;

function msgScratch(): MsgBlock {
  if (msgBlock) return msgBlock;
  const { koffi } = lib();
  const ptr = koffi.alloc('uint8_t', MSG_DATA + MSG_DATA_SIZE);
  const addr = koffi.address(ptr);
  const view = Buffer.from(koffi.view(ptr, MSG_DATA + MSG_DATA_SIZE));
  msgBlock = { ptr, addr, view };
  return msgBlock;
}

function putPtr(buf: Buffer, off: number, addr: bigint): void {
  buf.writeBigUInt64LE(addr, off);
}

function setupMsg(m: MsgBlock, dataLen: number, controlLen: number): void {
  const v = m.view;
  v.fill(0, 0, MSG_DATA);
  putPtr(v, MSG_IOV, m.addr + BigInt(MSG_DATA)); // iov_base
  v.writeBigUInt64LE(BigInt(dataLen), MSG_IOV + 8); // iov_len
  putPtr(v, MSG_HDR + 16, m.addr + BigInt(MSG_IOV)); // msg_iov
  v.writeBigUInt64LE(1n, MSG_HDR + 24); // msg_iovlen
  if (controlLen > 0) {
    putPtr(v, MSG_HDR + 32, m.addr + BigInt(MSG_CONTROL)); // msg_control
    v.writeBigUInt64LE(BigInt(controlLen), MSG_HDR + 40); // msg_controllen
  }
}

/** What one recvmsg(2) with SCM_RIGHTS brought: the payload and the fds (close-on-exec). */
export interface ReceivedMessage {
  data: Buffer;
  fds: number[];
  /** The control data did not fit: some fds were lost. */
  truncated: boolean;
}

/**
 * recvmsg(2) without waiting (MSG_DONTWAIT), fds received close-on-exec.
 * Throws EAGAIN when nothing is there yet; an empty `data` with no fds is
 * the peer's EOF. Up to 4096 payload bytes and 16 fds.
 */
export function recvmsgFds(fd: number): ReceivedMessage {
  const m = msgScratch();
  setupMsg(m, MSG_DATA_SIZE, MSG_CONTROL_SIZE);
  const n = shimLib().recvmsg(fd, m.ptr, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  if (n < 0) throw shimFail('recvmsg');
  const v = m.view;
  const controlLen = Number(v.readBigUInt64LE(MSG_HDR + 40));
  const flags = v.readInt32LE(MSG_HDR + 48);
  const fds: number[] = [];
  // cmsghdr: size_t len, int level, int type, then the data, each aligned to 8.
  let off = 0;
  while (off + 16 <= controlLen) {
    const len = Number(v.readBigUInt64LE(MSG_CONTROL + off));
    if (len < 16) break;
    const level = v.readInt32LE(MSG_CONTROL + off + 8);
    const type = v.readInt32LE(MSG_CONTROL + off + 12);
    if (level === SOL_SOCKET && type === SCM_RIGHTS) {
      for (let i = 16; i + 4 <= len; i += 4) fds.push(v.readInt32LE(MSG_CONTROL + off + i));
    }
    off += (len + 7) & ~7;
  }
  return {
    data: Buffer.from(v.subarray(MSG_DATA, MSG_DATA + n)),
    fds,
    truncated: (flags & MSG_CTRUNC) !== 0,
  };
}

/** sendmsg(2) of `data` (≤ 4096 bytes) with `fds` as SCM_RIGHTS, without waiting. Answers the bytes sent. */
export function sendmsgFds(fd: number, data: Buffer, fds: readonly number[]): number {
  if (data.length > MSG_DATA_SIZE || fds.length > 16) {
    throw sysError(22 /* EINVAL */, 'sendmsg');
  }
  const m = msgScratch();
  const controlLen = fds.length === 0 ? 0 : 16 + ((fds.length * 4 + 7) & ~7);
  setupMsg(m, data.length, controlLen);
  const v = m.view;
  data.copy(v, MSG_DATA);
  if (fds.length > 0) {
    v.writeBigUInt64LE(BigInt(16 + fds.length * 4), MSG_CONTROL);
    v.writeInt32LE(SOL_SOCKET, MSG_CONTROL + 8);
    v.writeInt32LE(SCM_RIGHTS, MSG_CONTROL + 12);
    for (const [i, f] of fds.entries()) v.writeInt32LE(f, MSG_CONTROL + 16 + i * 4);
  }
  const n = shimLib().sendmsg(fd, m.ptr, MSG_DONTWAIT | MSG_NOSIGNAL);
  if (n < 0) throw shimFail('sendmsg');
  return n;
}

/** eventfd(2) flags. */
export const EFD_CLOEXEC = O_CLOEXEC;
export const EFD_NONBLOCK = O_NONBLOCK;

/** eventfd(2). */
export function eventfd(initval: number, flags: number): number {
  const r = shimLib().eventfd(initval, flags);
  if (r < 0) throw shimFail('eventfd');
  return r;
}

/** epoll constants. */
export const EPOLL_CLOEXEC = O_CLOEXEC;
export const EPOLL_CTL_ADD = 1;
export const EPOLL_CTL_DEL = 2;
export const EPOLLIN = 0x1;
export const EPOLLERR = 0x8;
export const EPOLLHUP = 0x10;

// struct epoll_event is packed on x64 (12 bytes), naturally aligned elsewhere (16).
const EPOLL_EVENT_SIZE = process.arch === 'x64' ? 12 : 16;
const EPOLL_DATA_OFF = process.arch === 'x64' ? 4 : 8;

/** epoll_create1(2). */
export function epollCreate(flags = EPOLL_CLOEXEC): number {
  const r = shimLib().epollCreate1(flags);
  if (r < 0) throw shimFail('epoll_create1');
  return r;
}

/** epoll_ctl(2): ADD with `events` and a 32-bit `data` token, or DEL. */
export function epollCtl(epfd: number, op: number, fd: number, events = 0, data = 0): void {
  const ev = Buffer.alloc(EPOLL_EVENT_SIZE);
  ev.writeUInt32LE(events >>> 0, 0);
  ev.writeUInt32LE(data >>> 0, EPOLL_DATA_OFF);
  if (shimLib().epollCtl(epfd, op, fd, op === EPOLL_CTL_DEL ? null : ev) < 0) {
    throw shimFail('epoll_ctl');
  }
}

/** One ready fd from epollWait: its events and the `data` token given to epollCtl. */
export interface EpollEvent {
  events: number;
  data: number;
}

/**
 * epoll_wait(2) on libuv's threadpool (the event loop goes on): resolves with
 * the ready events, or [] after `timeoutMs`. Keep the timeout short (it holds
 * one pool thread) and do not close `epfd` while a wait runs. EINTR gives [].
 */
export function epollWait(
  epfd: number,
  maxEvents: number,
  timeoutMs: number,
): Promise<EpollEvent[]> {
  const L = shimLib();
  const { koffi } = lib();
  const size = EPOLL_EVENT_SIZE * maxEvents;
  const ptr = koffi.alloc('uint8_t', size);
  return new Promise((resolve, reject) => {
    L.epollWait.async(epfd, ptr, maxEvents, timeoutMs, (err, n) => {
      try {
        if (err) return reject(err);
        if (n < 0) {
          const e = koffi.errno();
          // errno is per thread: the pool thread's is not ours to read, so EINTR is assumed.
          return e === 0 || e === 4 ? resolve([]) : reject(sysError(e, 'epoll_wait'));
        }
        const v = Buffer.from(koffi.view(ptr, size));
        const out: EpollEvent[] = [];
        for (let i = 0; i < n; i++) {
          const off = i * EPOLL_EVENT_SIZE;
          out.push({ events: v.readUInt32LE(off), data: v.readUInt32LE(off + EPOLL_DATA_OFF) });
        }
        resolve(out);
      } finally {
        koffi.free(ptr);
      }
    });
  });
}

/** A new pty pair's master (O_RDWR|O_NOCTTY|O_CLOEXEC) and the slave's path (/dev/pts/N). */
export function openPtyMaster(): { master: number; slave: string } {
  const L = shimLib();
  const master = L.posixOpenpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) throw shimFail('posix_openpt');
  try {
    if (L.grantpt(master) < 0) throw shimFail('grantpt');
    if (L.unlockpt(master) < 0) throw shimFail('unlockpt');
    const buf = Buffer.alloc(128);
    const rc = L.ptsnameR(master, buf, buf.length);
    if (rc !== 0) throw sysError(rc, 'ptsname_r');
    return { master, slave: buf.toString('utf8', 0, buf.indexOf(0)) };
  } catch (err) {
    lib().close(master);
    throw err;
  }
}
