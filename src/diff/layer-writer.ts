/**
 * @module
 * Writes the entries of one layer into a directory tree, synchronously (it
 * runs in the apply worker), every path through a RootFs (openat2
 * RESOLVE_IN_ROOT), so nothing it does can reach outside the root.
 *
 * Policy, on top of that containment (a layer that breaks it FAILS with
 * `invalid_argument` naming the entry, rather than being silently clamped):
 * - names: see paths.ts (`..`, absolute, not UTF-8, overlong: refused);
 * - parent directories are walked component by component with lstat. A
 *   relative symlink met on the way is followed while it stays inside the
 *   root (so `lib -> usr/lib`, then `lib/x`, writes `usr/lib/x`, as
 *   containerd does); an absolute symlink, one whose `..` climbs above the
 *   root, and chains longer than 40 links (loops) are refused;
 * - hardlink targets follow the same rules and must exist;
 * - `.wh.<name>` removes `<name>` (refused for `.`, `..`, empty);
 *   `.wh..wh..opq` removes everything in its directory that this layer did
 *   not unpack. In `overlay` mode (the root is an overlay mount's merged
 *   view) the kernel turns those removals into 0/0 character-device
 *   whiteouts in the upper directory, and a directory emptied by an opaque
 *   marker is removed and re-created, which the kernel marks
 *   `trusted.overlay.opaque=y`;
 * - an existing entry is replaced, except a directory by a directory
 *   (merged: the layer's metadata wins).
 * Metadata order: data, chown, xattrs, chmod (after chown, so setuid
 * survives; xattrs after chown, which clears security.capability), times;
 * directory times last, once their contents are written.
 */
import { readFileSync, writeSync } from 'node:fs';
import { readTar, type TarHeader, type TarTime } from '../archive/index.js';
import { BerthError, invalidArgument, newError } from '../core/errdefs/index.js';
import {
  close,
  fchmod,
  fchown,
  fsetxattr,
  futimens,
  isErrno,
  O_CREAT,
  O_EXCL,
  O_WRONLY,
  S_IFBLK,
  S_IFCHR,
  S_IFDIR,
  S_IFIFO,
  S_IFLNK,
  S_IFMT,
  type Stat,
  type SysError,
  type Timespec,
} from '../sys/linux.js';
import { RootFs } from '../sys/rootfs.js';
import { classify, entryComponents, forgetUnder } from './paths.js';
import { UpperDir, upperXattrName } from './upper.js';

/** Symlinks followed while resolving one parent directory (Linux's MAXSYMLINKS). */
const MAX_SYMLINKS = 40;

export interface LayerWriterOptions {
  /** The root is an overlay mount's merged view: make opaque directories the kernel's way. */
  overlay?: boolean;
  /**
   * The root is an overlay snapshot's empty upperdir and these are its
   * lowerdirs (top first): the layer is written into the upperdir with the
   * result the merged view would have had (upper.ts).
   */
  lowers?: readonly string[];
}

export interface LayerStats {
  entries: number;
  /** Bytes of file data written. */
  bytes: number;
}

interface DirTimes {
  path: string;
  atime: Timespec;
  mtime: Timespec;
}

export class LayerWriter {
  readonly #root: RootFs;
  readonly #overlay: boolean;
  /** Set when writing straight into an upperdir; #root is then its upper. */
  readonly #upper: UpperDir | undefined;
  /** Resolved parent directories: layer path → real directory path inside the root ('' = root). */
  readonly #dirs = new Map<string, string>();
  /** Paths (real, inside the root) this layer wrote, and their ancestors: what an opaque marker keeps. */
  readonly #unpacked = new Set<string>();
  /**
   * Directories (real paths) this layer made, empty then, and not removed
   * since: every name in one of them is this layer's, so in #unpacked, and
   * a name not there needs no lookup before it is written (most of a
   * layer's entries are in directories it makes).
   */
  readonly #fresh = new Set<string>();
  /**
   * What a new entry gets in a directory (real path), learnt once per
   * directory (lstat and its xattr names, or from what this layer made):
   * the owner #uid and the group mapped here (the directory's own when it
   * is setgid, else #gid), and exactly the permission bits it is created
   * with less the umask; null where the directory has a default ACL (the
   * modes come from it). An entry created with the owner and mode it
   * should have then needs no chown or chmod (most layers' files: root's,
   * 0644 or 0755). Forgotten wherever this layer removes or changes a
   * directory.
   */
  readonly #plain = new Map<string, number | null>();
  readonly #uid = process.geteuid?.() ?? -1;
  readonly #gid = process.getegid?.() ?? -1;
  /** The process umask (undefined: unknown, so every file is chmod'ed). */
  readonly #umask = processUmask();
  readonly #dirTimes: DirTimes[] = [];
  readonly stats: LayerStats = { entries: 0, bytes: 0 };

  private constructor(root: RootFs, opts: LayerWriterOptions, upper?: UpperDir) {
    this.#root = root;
    this.#overlay = opts.overlay ?? false;
    this.#upper = upper;
  }

  /** Opens `path` (a trusted host directory) as the root to write into. */
  static open(path: string, opts: LayerWriterOptions = {}): LayerWriter {
    if (opts.lowers !== undefined) {
      const upper = UpperDir.open(path, opts.lowers);
      return new LayerWriter(upper.root, opts, upper);
    }
    return new LayerWriter(RootFs.open(path), opts);
  }

  close(): void {
    if (this.#upper !== undefined) this.#upper.close();
    else this.#root.close();
  }

  /** lstat of what the layer's target shows at `path` (the merged view when writing an upperdir). */
  #lstat(path: string): Stat | undefined {
    return this.#upper !== undefined ? this.#upper.lookup(path)?.st : this.#root.tryLstat(path);
  }

  /** Readies `path` for a new entry (see UpperDir.prepare). */
  #prepare(path: string): void {
    this.#upper?.prepare(path);
  }

  /** rm -rf of what the target shows at `path`; false when nothing was there. */
  #removeAll(path: string): boolean {
    forgetUnder(this.#fresh, path);
    forgetUnder(this.#plain, path);
    if (this.#upper === undefined) return this.#root.removeAll(path);
    const cut = path.lastIndexOf('/');
    return this.#upper.remove(path, cut < 0 ? '' : path.slice(0, cut), path.slice(cut + 1));
  }

  /** Nothing is at `path` yet: its directory is one this layer made and the layer did not write the name. */
  #surelyAbsent(path: string): boolean {
    const cut = path.lastIndexOf('/');
    return cut >= 0 && this.#fresh.has(path.slice(0, cut)) && !this.#unpacked.has(path);
  }

  /** Applies one entry; `body` is read for regular files only. Errors name the entry. */
  async entry(h: TarHeader, body: AsyncIterable<Buffer>): Promise<void> {
    this.stats.entries++;
    try {
      await this.#entry(h, body);
    } catch (err) {
      throw entryError(h, err);
    }
  }

  /** Sets directory times, deepest last written first; call once all entries are in. */
  finish(): void {
    for (let i = this.#dirTimes.length - 1; i >= 0; i--) {
      const d = this.#dirTimes[i]!;
      try {
        this.#root.lutimes(d.path, d.atime, d.mtime);
      } catch (err) {
        // A later entry of the layer may have removed or replaced it.
        if (!isErrno(err, 'ENOENT', 'ENOTDIR')) throw err;
      }
    }
  }

  async #entry(h: TarHeader, body: AsyncIterable<Buffer>): Promise<void> {
    const k = classify(h.nameBytes);
    switch (k.kind) {
      case 'root':
      case 'meta':
        return; // containerd ignores entries resolving to the root; aufs metadata means nothing here
      case 'whiteout': {
        const dir = this.#resolveDir(h, k.dir, false);
        if (dir === undefined) return;
        if (this.#removeAll(join(dir, k.target))) this.#dirs.clear();
        return;
      }
      case 'opaque': {
        const dir = this.#resolveDir(h, k.dir, true) ?? '';
        this.#opaque(dir);
        return;
      }
      case 'entry':
        break;
    }
    const dir = this.#resolveDir(h, k.dir, true) ?? '';
    const path = join(dir, k.base);
    const kept = this.#replace(path, h.type === 'dir');
    switch (h.type) {
      case 'file':
        await this.#file(dir, path, h, body);
        break;
      case 'dir': {
        if (!kept) this.#mkdir(path, 0o700);
        else this.#upper?.ensureDir(path);
        this.#meta(path, h, false, !kept && this.#owned(dir, h));
        // A directory made here has the header's owner and mode now, and
        // its parent's default ACL if any; one kept is learnt again.
        const made = kept ? undefined : this.#plain.get(path);
        if (made === undefined) this.#plain.delete(path);
        else if (made === null || hasAclXattr(h)) this.#plain.set(path, null);
        else this.#plain.set(path, h.mode & S_ISGID ? h.gid : this.#gid);
        this.#dirTimes.push({ path, atime: times(h).atime, mtime: times(h).mtime });
        break;
      }
      case 'symlink':
        this.#prepare(path);
        this.#root.symlink(h.linknameBytes, path);
        this.#meta(path, h, true, this.#owned(dir, h));
        break;
      case 'hardlink': {
        const target = this.#linkTarget(h);
        this.#prepare(path);
        this.#root.link(target, path);
        break;
      }
      case 'char':
      case 'block':
      case 'fifo': {
        const type = h.type === 'char' ? S_IFCHR : h.type === 'block' ? S_IFBLK : S_IFIFO;
        this.#prepare(path);
        this.#root.mknod(path, type | (h.mode & 0o777), h.devmajor, h.devminor);
        // A 0/0 character device is a whiteout to overlayfs, whichever way it is written.
        if (type === S_IFCHR && h.devmajor === 0 && h.devminor === 0)
          this.#upper?.whiteoutMade(path);
        this.#meta(path, h, false, false);
        break;
      }
    }
    this.#markUnpacked(path);
  }

  async #file(dir: string, path: string, h: TarHeader, body: AsyncIterable<Buffer>): Promise<void> {
    this.#prepare(path);
    // Created with its mode when that comes out exact (see #plain): no
    // special bits, none the umask takes; else 0600 and chmod'ed below.
    const umask = this.#umask;
    const exact =
      umask !== undefined &&
      (h.mode & 0o7000) === 0 &&
      (h.mode & umask) === 0 &&
      this.#newGid(dir) !== undefined;
    const fd = this.#root.openFile(path, O_WRONLY | O_CREAT | O_EXCL, exact ? h.mode : 0o600);
    try {
      for await (const chunk of body) {
        let off = 0;
        while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
        this.stats.bytes += chunk.length;
      }
      if (!this.#owned(dir, h)) fchown(fd, h.uid, h.gid);
      for (const [name, value] of this.#xattrs(h)) {
        try {
          fsetxattr(fd, name, value);
        } catch (err) {
          if (!isErrno(err, 'ENOTSUP', 'EOPNOTSUPP')) throw xattrError(name, err);
        }
      }
      if (!exact) fchmod(fd, h.mode);
      const t = times(h);
      futimens(fd, t.atime, t.mtime);
    } finally {
      close(fd);
    }
  }

  /** An entry created now in `dir` gets the owner `h` names (see #plain). */
  #owned(dir: string, h: TarHeader): boolean {
    return h.uid === this.#uid && h.gid === this.#newGid(dir);
  }

  /** The group of a new entry in `dir`, undefined where its mode would not be exact (see #plain). */
  #newGid(dir: string): number | undefined {
    // Through an overlay's merged view the kernel decides owners and modes its own way: no shortcuts.
    if (this.#overlay || this.#umask === undefined) return undefined;
    let g = this.#plain.get(dir);
    if (g === undefined) {
      const st = this.#root.lstat(dir);
      g = hasDefaultAcl(this.#root, dir) ? null : st.mode & S_ISGID ? st.gid : this.#gid;
      this.#plain.set(dir, g);
    }
    return g ?? undefined;
  }

  /**
   * Owner (unless `owned`: the entry was just made with it), xattrs, mode
   * (not for symlinks), times (not for directories: see finish).
   */
  #meta(path: string, h: TarHeader, symlink: boolean, owned: boolean): void {
    const root = this.#root;
    if (!owned) root.lchown(path, h.uid, h.gid);
    for (const [name, value] of this.#xattrs(h)) {
      try {
        root.lsetxattr(path, name, value);
      } catch (err) {
        // Symlinks take only trusted.* and security.*; filesystems may lack xattrs (as containerd: skip).
        if (isErrno(err, 'ENOTSUP', 'EOPNOTSUPP') || (symlink && isErrno(err, 'EPERM'))) continue;
        throw xattrError(name, err);
      }
    }
    if (symlink) {
      const t = times(h);
      root.lutimes(path, t.atime, t.mtime);
      return;
    }
    root.chmod(path, h.mode);
    if (h.type !== 'dir') {
      const t = times(h);
      root.lutimes(path, t.atime, t.mtime);
    }
  }

  /**
   * Removes what is at `path` unless both it and the new entry are
   * directories; true when a directory was kept there.
   */
  #replace(path: string, isDir: boolean): boolean {
    if (this.#surelyAbsent(path)) return false;
    const st = this.#lstat(path);
    if (st === undefined) return false;
    const type = st.mode & S_IFMT;
    if (type === S_IFDIR && isDir) return true;
    this.#removeAll(path);
    if (type === S_IFDIR || type === S_IFLNK) this.#dirs.clear();
    return false;
  }

  /** The real path of a hardlink's target; it must exist inside the root. */
  #linkTarget(h: TarHeader): string {
    const label = `hardlink target ${JSON.stringify(h.linkname)}`;
    const parts = entryComponents(h.linknameBytes, label);
    const base = parts.pop();
    if (base === undefined) throw invalidArgument(`${label}: names the root`);
    const dir = this.#resolveDir(h, parts, false, label);
    const target = dir === undefined ? undefined : join(dir, base);
    const upper = this.#upper;
    const found = target === undefined ? undefined : upper?.lookup(target);
    const exists =
      target !== undefined &&
      (upper !== undefined ? found !== undefined : this.#root.tryLstat(target) !== undefined);
    if (!exists) {
      throw invalidArgument(`${label} does not exist in the layer or below it`);
    }
    // Through the merged view the kernel copies a lower file up before linking to it.
    if (found !== undefined) this.#upper!.copyUp(target, found);
    return target;
  }

  /**
   * The real directory that the layer path `parts` names, walking each
   * component with lstat (see the module comment). Missing directories are
   * created when `create`, else the result is undefined.
   */
  #resolveDir(
    h: TarHeader,
    parts: readonly string[],
    create: boolean,
    label?: string,
  ): string | undefined {
    const key = parts.join('/');
    const hit = this.#dirs.get(key);
    if (hit !== undefined) return hit;
    const root = this.#root;
    const todo = [...parts];
    let real = '';
    let links = 0;
    const fail = (why: string) =>
      invalidArgument(`entry ${JSON.stringify(h.name)}${label ? `, ${label}` : ''}: ${why}`);
    while (todo.length > 0) {
      const c = todo.shift()!;
      if (c === '..') {
        if (real === '') throw fail('a symlink on its path climbs above the layer root');
        real = real.slice(0, Math.max(real.lastIndexOf('/'), 0));
        continue;
      }
      const p = join(real, c);
      const absent = this.#surelyAbsent(p);
      const found = absent ? undefined : this.#upper?.lookup(p);
      const st = absent ? undefined : this.#upper !== undefined ? found?.st : root.tryLstat(p);
      if (st === undefined) {
        if (!create) return undefined;
        this.#mkdir(p, 0o755);
        real = p;
        continue;
      }
      const type = st.mode & S_IFMT;
      if (type === S_IFDIR) {
        real = p;
        continue;
      }
      if (type !== S_IFLNK) throw fail(`"${p}" is not a directory`);
      if (++links > MAX_SYMLINKS)
        throw fail(`too many levels of symlinks at "${p}" (a symlink loop)`);
      const target = (found ? this.#upper!.readlink(p, found) : root.readlink(p)).toString('utf8');
      if (target.startsWith('/')) {
        throw fail(
          `"${p}" is a symlink to the absolute path "${target}"; refusing to write through it`,
        );
      }
      todo.unshift(...target.split('/').filter((s) => s !== '' && s !== '.'));
    }
    this.#dirs.set(key, real);
    return real;
  }

  /** Removes what this layer did not unpack below `dir`, recursively into directories it kept. */
  #opaque(dir: string): void {
    // What is removed below `dir` is not tracked name by name: none of it is fresh any more.
    for (const f of this.#fresh) if (f.startsWith(`${dir}/`) || dir === '') this.#fresh.delete(f);
    forgetUnder(this.#plain, dir);
    if (this.#upper !== undefined) {
      this.#upper.opaque(dir, this.#unpacked);
      this.#dirs.clear();
      this.#markUnpacked(dir);
      return;
    }
    const root = this.#root;
    let kept = 0;
    for (const raw of root.readdir(dir)) {
      const name = raw.toString('utf8');
      const p = join(dir, name);
      if (!raw.equals(Buffer.from(name)) || !this.#unpacked.has(p)) {
        root.removeAll(dir === '' ? raw : Buffer.concat([Buffer.from(`${dir}/`), raw]));
        this.#dirs.clear();
        continue;
      }
      kept++;
      if ((root.lstat(p).mode & S_IFMT) === S_IFDIR) this.#opaque(p);
    }
    if (this.#overlay && kept === 0 && dir !== '') this.#recreate(dir);
    this.#markUnpacked(dir);
  }

  /** rmdir + mkdir with the same owner, mode and xattrs: overlayfs marks the new directory opaque. */
  #recreate(dir: string): void {
    const root = this.#root;
    const st = root.lstat(dir);
    const xattrs = new Map<string, Buffer>();
    for (const name of root.llistxattr(dir)) {
      if (!name.startsWith('trusted.overlay.')) xattrs.set(name, root.lgetxattr(dir, name));
    }
    forgetUnder(this.#fresh, dir);
    root.rmdir(dir);
    this.#dirs.clear();
    root.mkdir(dir, 0o700);
    root.lchown(dir, st.uid, st.gid);
    for (const [name, value] of xattrs) root.lsetxattr(dir, name, value);
    root.chmod(dir, st.mode & 0o7777);
    root.lutimes(dir, st.atime, st.mtime);
  }

  /** The entry's xattrs, named as overlayfs stores them when writing an upperdir (see ownXattr). */
  #xattrs(h: TarHeader): Iterable<[string, Buffer]> {
    if (this.#upper === undefined) return h.xattrs;
    const out: [string, Buffer][] = [];
    for (const [name, value] of h.xattrs) {
      const stored = upperXattrName(name);
      if (stored !== undefined) out.push([stored, value]);
    }
    return out;
  }

  /** mkdir of a name the target does not show (so the new directory shows nothing either). */
  #mkdir(path: string, mode: number): void {
    if (this.#upper !== undefined) this.#upper.mkdir(path, mode);
    else this.#root.mkdir(path, mode);
    this.#fresh.add(path);
    // A new directory takes its parent's setgid bit and group, and its default ACL.
    const cut = path.lastIndexOf('/');
    const parentDir = cut < 0 ? '' : path.slice(0, cut);
    this.#newGid(parentDir);
    const parent = this.#plain.get(parentDir);
    if (parent !== undefined) this.#plain.set(path, parent);
    else this.#plain.delete(path);
  }

  #markUnpacked(path: string): void {
    let p = path;
    while (p !== '' && !this.#unpacked.has(p)) {
      this.#unpacked.add(p);
      p = p.slice(0, Math.max(p.lastIndexOf('/'), 0));
    }
  }
}

/**
 * Applies the tar stream `source` into the directory `path`: the whole
 * pipeline after decompression, synchronous file calls on whatever thread
 * runs it (the apply worker; tests call it directly).
 */
export async function applyTar(
  source: AsyncIterable<Uint8Array>,
  path: string,
  opts: LayerWriterOptions = {},
): Promise<LayerStats> {
  const writer = LayerWriter.open(path, opts);
  try {
    for await (const { header, body } of readTar(source)) await writer.entry(header, body);
    writer.finish();
    return writer.stats;
  } finally {
    writer.close();
  }
}

const S_ISGID = 0o2000;

/** The process umask, from /proc (reading it through process.umask() would set it). */
function processUmask(): number | undefined {
  try {
    const m = /^Umask:\s+([0-7]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number.parseInt(m[1]!, 8) : undefined;
  } catch {
    return undefined;
  }
}

/** The directory has a default ACL (new entries take their modes from it, not from the umask). */
function hasDefaultAcl(root: RootFs, dir: string): boolean {
  try {
    return root.llistxattr(dir).includes('system.posix_acl_default');
  } catch (err) {
    if (isErrno(err, 'ENOTSUP', 'EOPNOTSUPP')) return false;
    throw err;
  }
}

/** The entry sets a POSIX ACL (a directory's default ACL decides its new entries' modes). */
function hasAclXattr(h: TarHeader): boolean {
  for (const name of h.xattrs.keys()) if (name.startsWith('system.posix_acl')) return true;
  return false;
}

function join(dir: string, name: string): string {
  return dir === '' ? name : `${dir}/${name}`;
}

function ts(t: TarTime): Timespec {
  return { sec: t.sec, nsec: t.nsec };
}

/** containerd: atime is the later of the entry's atime and mtime. */
function times(h: TarHeader): { atime: Timespec; mtime: Timespec } {
  const a = h.atime;
  const later = a && (a.sec > h.mtime.sec || (a.sec === h.mtime.sec && a.nsec > h.mtime.nsec));
  return { atime: ts(later ? a : h.mtime), mtime: ts(h.mtime) };
}

function xattrError(name: string, err: unknown): Error {
  const e = err as Error;
  e.message = `xattr ${name}: ${e.message}`;
  return e;
}

/** Names the entry in the error; a system error becomes invalid_argument (disk full: resource_exhausted). */
function entryError(h: TarHeader, err: unknown): Error {
  const where = `layer entry ${JSON.stringify(h.name)}`;
  if (err instanceof BerthError) {
    return newError(
      err.kind,
      err.message.startsWith('entry') ? err.message : `${where}: ${err.message}`,
      {
        cause: err,
      },
    );
  }
  const e = err as SysError;
  if (typeof e?.code === 'string' && typeof e.errno === 'number') {
    const kind =
      e.code === 'ENOSPC' || e.code === 'EDQUOT' ? 'resource_exhausted' : 'invalid_argument';
    return newError(kind, `${where}: ${e.message}`, { cause: err });
  }
  return err instanceof Error ? err : new Error(String(err));
}
