/**
 * @module rootfs
 * A directory tree that nothing done through it can escape: the layer
 * applier's view of a snapshot.
 *
 * Every path is relative to the root (a leading `/` is ignored). Every entry
 * is reached as (parent directory fd, single name): the parent is resolved by
 * openat2(2) with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS, so `..`, absolute
 * paths and symlinks (absolute or relative, in this layer or a lower one) all
 * resolve as if the root were `/`. A symlink `evil -> /etc` makes `evil/passwd`
 * the root's own `etc/passwd`, never the host's. The last name is never
 * followed: each operation acts on the entry itself, as lstat, lchown and
 * unlink do (`open` is the one exception, and it too stays inside the root).
 *
 * Synchronous, like the calls it makes: meant for a worker thread. Resolved
 * parents are kept open in a small LRU cache (any remove or rename drops it),
 * so a layer's entries, which come directory by directory, cost one openat2
 * per directory instead of one per entry.
 */
import { readdirSync } from 'node:fs';
import {
  AT_EMPTY_PATH,
  AT_FDCWD,
  AT_REMOVEDIR,
  AT_SYMLINK_NOFOLLOW,
  checkOpenat2,
  close,
  fchmod,
  fchmodat,
  fchownat,
  fgetxattr,
  flistxattr,
  fremovexattr,
  fsetxattr,
  fstatat,
  futimens,
  isErrno,
  lgetxattr,
  linkat,
  llistxattr,
  lremovexattr,
  lsetxattr,
  mkdirat,
  mknodat,
  O_CLOEXEC,
  O_DIRECTORY,
  O_NOFOLLOW,
  O_PATH,
  O_RDONLY,
  openat,
  openat2,
  type PathArg,
  RESOLVE_IN_ROOT,
  RESOLVE_NO_MAGICLINKS,
  RESOLVE_NO_XDEV,
  readlinkat,
  relabelSysError,
  renameat2,
  S_IFDIR,
  S_IFLNK,
  S_IFMT,
  type Stat,
  type SysError,
  symlinkat,
  sysError,
  type Timespec,
  tryFstatat,
  unlinkat,
  utimensat,
} from './linux.js';

const EINVAL = 22;
const EISDIR = 21;
const EEXIST = 17;

export interface RootFsOptions {
  /** Also refuse to cross mount points inside the root (RESOLVE_NO_XDEV → EXDEV). */
  noXdev?: boolean;
  /** Parent directories kept open (0 disables the cache, otherwise at least 2; default 64). */
  cacheSize?: number;
}

/** A parent directory fd (owned by the caller) and the single name inside it. */
export interface Parent {
  dirfd: number;
  name: PathArg;
}

/** A path split into its parent (normalised, '' for the root) and last name (null: the root itself). */
interface Split {
  parent: PathArg;
  key: string;
  name: PathArg | null;
}

const ROOT: Split = { parent: '', key: '', name: null };
const SLASH = 0x2f;
const DOT = 0x2e;

export class RootFs {
  /** The host path the root was opened at (for messages; never used to resolve). */
  readonly path: string;
  /** An O_RDONLY | O_DIRECTORY fd on the root, valid until close(). */
  readonly fd: number;
  private readonly resolveFlags: number;
  private readonly cacheSize: number;
  private readonly cache = new Map<string, number>();
  private lastKey: string | undefined;
  private closed = false;

  private constructor(path: string, fd: number, options: RootFsOptions) {
    this.path = path;
    this.fd = fd;
    this.resolveFlags =
      RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | (options.noXdev ? RESOLVE_NO_XDEV : 0);
    const size = options.cacheSize ?? 64;
    if (size !== 0 && size < 2) throw new RangeError('cacheSize must be 0 or at least 2');
    this.cacheSize = size;
  }

  /**
   * Opens the directory `path` (a trusted host path, resolved normally) as a
   * root. Throws a clear error if the kernel lacks openat2 (Linux < 5.6).
   */
  static open(path: string, options: RootFsOptions = {}): RootFs {
    checkOpenat2();
    const fd = openat(AT_FDCWD, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return new RootFs(path, fd, options);
  }

  /** Closes the root and every cached parent. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.dropCache();
    close(this.fd);
  }

  // ------------------------------------------------------------ resolution

  /**
   * The parent of `rel`, resolved inside the root, as a new O_PATH directory
   * fd the caller must close, and the last name. Throws EINVAL for the root
   * itself and for a path ending in `..`.
   */
  resolveParent(rel: PathArg): Parent {
    this.assertOpen();
    const s = this.split(rel);
    if (s.name === null) throw sysError(EINVAL, 'openat2', rel);
    try {
      const p = s.parent === '' ? '.' : s.parent;
      return {
        dirfd: openat2(this.fd, p, O_PATH | O_DIRECTORY | O_CLOEXEC, 0, this.resolveFlags),
        name: s.name,
      };
    } catch (err) {
      throw relabel(err, rel);
    }
  }

  /**
   * Opens `rel` resolving every component inside the root, the last one too
   * (a final symlink is followed, still inside the root). O_CLOEXEC is added.
   * Returns a new fd the caller closes. O_PATH gives a handle for *at calls.
   */
  open(rel: PathArg, flags: number, mode = 0): number {
    this.assertOpen();
    try {
      const p = rel.length === 0 ? '.' : rel;
      return openat2(this.fd, p, flags | O_CLOEXEC, mode, this.resolveFlags);
    } catch (err) {
      throw relabel(err, rel);
    }
  }

  /**
   * Opens the entry `rel` itself (O_NOFOLLOW: a symlink fails with ELOOP),
   * for example `O_WRONLY | O_CREAT | O_EXCL` to create a regular file.
   * O_CLOEXEC is added; `mode` is filtered by the umask. The caller closes it.
   */
  openFile(rel: PathArg, flags: number, mode = 0o644): number {
    return this.at(rel, (dirfd, name) => openat(dirfd, name, flags | O_NOFOLLOW | O_CLOEXEC, mode));
  }

  // --------------------------------------------------------------- reading

  /** The entry itself (lstat). `rel` '' or '.' is the root. */
  lstat(rel: PathArg): Stat {
    return this.on(
      rel,
      () => fstatat(this.fd, '', AT_EMPTY_PATH),
      (dirfd, name) => fstatat(dirfd, name, AT_SYMLINK_NOFOLLOW),
    );
  }

  /** lstat, or undefined when the entry (or a parent) does not exist. */
  tryLstat(rel: PathArg): Stat | undefined {
    try {
      return this.on(
        rel,
        () => fstatat(this.fd, '', AT_EMPTY_PATH),
        (dirfd, name) => tryFstatat(dirfd, name, AT_SYMLINK_NOFOLLOW),
      );
    } catch (err) {
      if (isErrno(err, 'ENOENT', 'ENOTDIR')) return undefined;
      throw err;
    }
  }

  /** A symlink's target, raw bytes. */
  readlink(rel: PathArg): Buffer {
    return this.at(rel, (dirfd, name) => readlinkat(dirfd, name));
  }

  /** The names in directory `rel` (not followed if a symlink), as raw bytes, without . and .. */
  readdir(rel: PathArg): Buffer[] {
    const fd = this.openDir(rel);
    try {
      return readdirSync(`/proc/self/fd/${fd}`, { encoding: 'buffer' });
    } finally {
      close(fd);
    }
  }

  // -------------------------------------------------------------- creating

  /** mkdir; `mode` is filtered by the umask (chmod afterwards for exact bits). */
  mkdir(rel: PathArg, mode = 0o755): void {
    this.at(rel, (dirfd, name) => mkdirat(dirfd, name, mode), EEXIST);
  }

  /** mkdir -p: creates the missing directories of `rel` (existing ones, or symlinks to them inside the root, are kept). */
  mkdirAll(rel: PathArg, mode = 0o755): void {
    const parts = components(rel);
    for (let i = 1; i <= parts.length; i++) {
      const prefix = join(parts.slice(0, i), typeof rel === 'string');
      const st = this.tryStatFollow(prefix);
      if (st === undefined) {
        this.mkdir(prefix, mode);
      } else if ((st.mode & S_IFMT) !== S_IFDIR) {
        throw sysError(20 /* ENOTDIR */, 'mkdirat', prefix);
      }
    }
  }

  /**
   * mknod: `mode` holds the type (S_IFCHR, S_IFBLK, S_IFIFO, S_IFREG, S_IFSOCK)
   * and the permission bits (filtered by the umask).
   */
  mknod(rel: PathArg, mode: number, major = 0, minor = 0): void {
    this.at(rel, (dirfd, name) => mknodat(dirfd, name, mode, major, minor), EEXIST);
  }

  /** A symlink at `rel` to `target`, stored verbatim (it is resolved inside the root when followed through RootFs). */
  symlink(target: PathArg, rel: PathArg): void {
    this.at(rel, (dirfd, name) => symlinkat(target, dirfd, name), EEXIST);
  }

  /** A hard link `rel` to the entry `existing` (a symlink is linked itself, not followed). */
  link(existing: PathArg, rel: PathArg): void {
    this.at2(existing, rel, (od, on, nd, nn) => linkat(od, on, nd, nn, 0));
  }

  // -------------------------------------------------------------- removing

  /** unlink: removes a non-directory. */
  unlink(rel: PathArg): void {
    this.at(
      rel,
      (dirfd, name) => {
        const st = this.cache.size > 0 ? tryFstatat(dirfd, name, AT_SYMLINK_NOFOLLOW) : undefined;
        unlinkat(dirfd, name, 0);
        // A cached parent may have been reached through this symlink.
        if (st !== undefined && (st.mode & S_IFMT) === S_IFLNK) this.dropCache();
      },
      EISDIR,
    );
  }

  /** rmdir: removes an empty directory. */
  rmdir(rel: PathArg): void {
    this.at(
      rel,
      (dirfd, name) => {
        unlinkat(dirfd, name, AT_REMOVEDIR);
        this.dropCache();
      },
      16 /* EBUSY */,
    );
  }

  /**
   * rm -rf: removes the entry and, for a directory, everything below it,
   * never following a symlink. Returns false if there was nothing. The root
   * itself cannot be removed (EINVAL): see removeChildren.
   */
  removeAll(rel: PathArg): boolean {
    let removed = false;
    // Only a directory's or a symlink's removal can change what a cached parent is.
    let drop = true;
    try {
      this.at(
        rel,
        (dirfd, name) => {
          const st = tryFstatat(dirfd, name, AT_SYMLINK_NOFOLLOW);
          const type = st === undefined ? 0 : st.mode & S_IFMT;
          drop = type === S_IFDIR || type === S_IFLNK;
          if (st === undefined) return;
          if (type === S_IFDIR) {
            removeBelow(dirfd, name);
            unlinkat(dirfd, name, AT_REMOVEDIR);
          } else {
            unlinkat(dirfd, name, 0);
          }
          removed = true;
        },
        EINVAL,
      );
    } catch (err) {
      drop = true;
      if (!isErrno(err, 'ENOENT', 'ENOTDIR')) throw err;
    } finally {
      if (drop) this.dropCache();
    }
    return removed;
  }

  /** Empties directory `rel` (the root included) and keeps it. */
  removeChildren(rel: PathArg): void {
    try {
      const s = this.split(rel);
      if (s.name === null) {
        removeBelow(this.fd, '.');
      } else {
        this.at(rel, (dirfd, name) => removeBelow(dirfd, name));
      }
    } catch (err) {
      throw relabel(err, rel);
    } finally {
      this.dropCache();
    }
  }

  /** renameat2 with RENAME_NOREPLACE / RENAME_EXCHANGE / RENAME_WHITEOUT flags. */
  rename(from: PathArg, to: PathArg, flags = 0): void {
    try {
      this.at2(from, to, (od, on, nd, nn) => renameat2(od, on, nd, nn, flags));
    } finally {
      this.dropCache();
    }
  }

  // -------------------------------------------------------------- metadata

  /** lchown: the entry itself, a symlink included. -1 keeps an id. Clears setuid/setgid: chown before chmod. */
  lchown(rel: PathArg, uid: number, gid: number): void {
    this.on(
      rel,
      () => fchownat(this.fd, '', uid, gid, AT_EMPTY_PATH),
      (dirfd, name) => fchownat(dirfd, name, uid, gid, AT_SYMLINK_NOFOLLOW),
    );
  }

  /** chmod of the entry itself, all 12 bits exact (no umask). A symlink fails with EOPNOTSUPP. */
  chmod(rel: PathArg, mode: number): void {
    this.on(
      rel,
      () => fchmod(this.fd, mode),
      (dirfd, name) => fchmodat(dirfd, name, mode, AT_SYMLINK_NOFOLLOW),
    );
  }

  /** Access and modification times of the entry itself, a symlink included, in ns. */
  lutimes(rel: PathArg, atime: Timespec, mtime: Timespec): void {
    this.on(
      rel,
      () => futimens(this.fd, atime, mtime),
      (dirfd, name) => utimensat(dirfd, name, atime, mtime, AT_SYMLINK_NOFOLLOW),
    );
  }

  /**
   * Sets an extended attribute on the entry itself (a symlink too: only
   * trusted.* and security.* there). Binary-safe. Goes through
   * /proc/self/fd/<parent>/<name>, so /proc must be mounted.
   */
  lsetxattr(rel: PathArg, name: string, value: Buffer, flags = 0): void {
    this.on(
      rel,
      () => fsetxattr(this.fd, name, value, flags),
      (dirfd, base) => lsetxattr(procPath(dirfd, base), name, value, flags),
    );
  }

  /** An extended attribute's bytes; ENODATA when absent. */
  lgetxattr(rel: PathArg, name: string): Buffer {
    return this.on(
      rel,
      () => fgetxattr(this.fd, name),
      (dirfd, base) => lgetxattr(procPath(dirfd, base), name),
    );
  }

  /** The extended attribute names of the entry itself. */
  llistxattr(rel: PathArg): string[] {
    return this.on(
      rel,
      () => flistxattr(this.fd),
      (dirfd, base) => llistxattr(procPath(dirfd, base)),
    );
  }

  /** Removes an extended attribute; ENODATA when absent. */
  lremovexattr(rel: PathArg, name: string): void {
    this.on(
      rel,
      () => fremovexattr(this.fd, name),
      (dirfd, base) => lremovexattr(procPath(dirfd, base), name),
    );
  }

  // -------------------------------------------------------------- internals

  /** Runs `fn` on (parent fd, name); the root itself is refused with `rootErrno`. */
  private at<T>(rel: PathArg, fn: (dirfd: number, name: PathArg) => T, rootErrno = EINVAL): T {
    return this.on(
      rel,
      () => {
        throw sysError(rootErrno, 'openat2', rel);
      },
      fn,
    );
  }

  /** Runs `onRoot` for the root itself, else `fn` on (parent fd, name); errors name `rel`. */
  private on<T>(rel: PathArg, onRoot: () => T, fn: (dirfd: number, name: PathArg) => T): T {
    this.assertOpen();
    try {
      const s = this.split(rel);
      if (s.name === null) return onRoot();
      const { fd, owned } = this.parentFd(s);
      try {
        return fn(fd, s.name);
      } finally {
        if (owned) close(fd);
      }
    } catch (err) {
      throw relabel(err, rel);
    }
  }

  /** Two entries at once (link, rename). The cache keeps at least 2, so the first parent stays open. */
  private at2(
    from: PathArg,
    to: PathArg,
    fn: (od: number, on: PathArg, nd: number, nn: PathArg) => void,
  ): void {
    this.assertOpen();
    let a: { fd: number; owned: boolean } | undefined;
    let b: { fd: number; owned: boolean } | undefined;
    try {
      const sa = this.split(from);
      const sb = this.split(to);
      if (sa.name === null || sb.name === null) throw sysError(EINVAL, 'openat2', from, to);
      a = this.parentFd(sa);
      b = this.parentFd(sb);
      fn(a.fd, sa.name, b.fd, sb.name);
    } catch (err) {
      throw relabel(err, from, to);
    } finally {
      if (a?.owned) close(a.fd);
      if (b?.owned) close(b.fd);
    }
  }

  /** The parent directory fd: the root fd, a cached fd, or a fresh one (owned: the caller closes it). */
  private parentFd(s: Split): { fd: number; owned: boolean } {
    if (s.parent === '') return { fd: this.fd, owned: false };
    if (this.cacheSize === 0) {
      return {
        fd: openat2(this.fd, s.parent, O_PATH | O_DIRECTORY | O_CLOEXEC, 0, this.resolveFlags),
        owned: true,
      };
    }
    const hit = this.cache.get(s.key);
    if (hit !== undefined) {
      // Least recently used order; the most recent is already last.
      if (s.key !== this.lastKey) {
        this.cache.delete(s.key);
        this.cache.set(s.key, hit);
        this.lastKey = s.key;
      }
      return { fd: hit, owned: false };
    }
    const fd = openat2(this.fd, s.parent, O_PATH | O_DIRECTORY | O_CLOEXEC, 0, this.resolveFlags);
    this.cache.set(s.key, fd);
    this.lastKey = s.key;
    if (this.cache.size > this.cacheSize) {
      const [oldKey, oldFd] = this.cache.entries().next().value as [string, number];
      this.cache.delete(oldKey);
      close(oldFd);
    }
    return { fd, owned: false };
  }

  private dropCache(): void {
    for (const fd of this.cache.values()) close(fd);
    this.cache.clear();
    this.lastKey = undefined;
  }

  private tryStatFollow(rel: PathArg): Stat | undefined {
    let fd: number;
    try {
      fd = this.open(rel, O_PATH);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    }
    try {
      return fstatat(fd, '', AT_EMPTY_PATH);
    } finally {
      close(fd);
    }
  }

  private openDir(rel: PathArg): number {
    return this.on(
      rel,
      () => openat(this.fd, '.', O_RDONLY | O_DIRECTORY | O_CLOEXEC),
      (dirfd, name) => openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC),
    );
  }

  private assertOpen(): void {
    if (this.closed) throw new Error(`RootFs ${this.path} is closed`);
  }

  /** Splits `rel` into parent and name; '', '.', '/' are the root; a final '..' is EINVAL. */
  private split(rel: PathArg): Split {
    if (typeof rel === 'string') {
      // Fast path: no '', '.', '..' component and no NUL, so no normalising.
      if (!SIMPLE_NOT.test(rel)) {
        const i = rel.lastIndexOf('/');
        if (i < 0) return { parent: '', key: '', name: rel };
        const parent = rel.slice(0, i);
        return { parent, key: parent, name: rel.slice(i + 1) };
      }
      if (rel.includes('\0')) throw nulError(rel);
    } else if (rel.includes(0)) {
      throw nulError(rel.toString('utf8'));
    }
    const parts = components(rel);
    if (parts.length === 0) return ROOT;
    const name = parts[parts.length - 1]!;
    if (isDotDot(name)) throw sysError(EINVAL, 'openat2', rel);
    if (parts.length === 1) return { parent: '', key: '', name };
    const isString = typeof rel === 'string';
    const parent = join(parts.slice(0, -1), isString);
    // String keys never hold a NUL, so Buffer keys (bytes as latin1) cannot collide with them.
    const key = isString ? (parent as string) : `\0${(parent as Buffer).toString('latin1')}`;
    return { parent, key, name };
  }
}

/** Matches paths that need the slow split: an empty, '.' or '..' component, or a NUL. */
const SIMPLE_NOT = /(?:^|\/)\.{0,2}(?:\/|$)|\0/;

function nulError(value: string): Error {
  const err = new TypeError(
    `The argument 'path' must be a string or Buffer without null bytes. Received ${JSON.stringify(value)}`,
  ) as TypeError & { code: string };
  err.code = 'ERR_INVALID_ARG_VALUE';
  return err;
}

/** Path components without '' and '.' (a '..' is kept: the kernel resolves it inside the root). */
function components(rel: PathArg): PathArg[] {
  if (typeof rel === 'string') {
    return rel.split('/').filter((c) => c !== '' && c !== '.');
  }
  const out: Buffer[] = [];
  let start = 0;
  for (let i = 0; i <= rel.length; i++) {
    if (i === rel.length || rel[i] === SLASH) {
      if (i > start && !(i - start === 1 && rel[start] === DOT)) out.push(rel.subarray(start, i));
      start = i + 1;
    }
  }
  return out;
}

function join(parts: PathArg[], isString: boolean): PathArg {
  if (isString) return (parts as string[]).join('/');
  const bufs: Buffer[] = [];
  for (const [i, p] of (parts as Buffer[]).entries()) {
    if (i > 0) bufs.push(Buffer.from('/'));
    bufs.push(p);
  }
  return Buffer.concat(bufs);
}

function isDotDot(name: PathArg): boolean {
  return typeof name === 'string'
    ? name === '..'
    : name.length === 2 && name[0] === DOT && name[1] === DOT;
}

/** /proc/self/fd/<dirfd>/<name>: the name inside an fd's directory, for calls without an *at form. */
function procPath(dirfd: number, name: PathArg): PathArg {
  const prefix = `/proc/self/fd/${dirfd}/`;
  return typeof name === 'string' ? prefix + name : Buffer.concat([Buffer.from(prefix), name]);
}

/** Removes everything below directory `name` of `dirfd`, never following a symlink. */
function removeBelow(dirfd: number, name: PathArg): void {
  const fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  try {
    for (const child of readdirSync(`/proc/self/fd/${fd}`, { encoding: 'buffer' })) {
      try {
        unlinkat(fd, child, 0);
      } catch (err) {
        if (!isErrno(err, 'EISDIR')) throw err;
        removeBelow(fd, child);
        unlinkat(fd, child, AT_REMOVEDIR);
      }
    }
  } finally {
    close(fd);
  }
}

/** Re-labels a SysError with the root-relative path(s) the caller gave; other errors pass through. */
function relabel(err: unknown, path: PathArg, dest?: PathArg): unknown {
  const e = err as SysError;
  if (!(err instanceof Error) || typeof e.syscall !== 'string' || typeof e.errno !== 'number') {
    return err;
  }
  return relabelSysError(e, path, dest);
}
