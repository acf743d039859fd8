/**
 * @module
 * Writing a layer straight into an overlay snapshot's upperdir, with the
 * result the kernel would have made had the layer been written through the
 * merged view (containerd 1.6 applies a single overlay mount this way). The
 * layer writer (layer-writer.ts) asks this class what the merged view holds
 * (union.ts) and lets it make the upper-side changes overlayfs makes:
 * - copy-up: before anything is made inside a directory that only a lower
 *   layer has, the directory is made in the upper with the lower one's
 *   owner, mode, xattrs and times (then the parent's times are put back, as
 *   the kernel does); a hardlink to a lower-only file first copies that file
 *   up (data, owner, mode, xattrs, times);
 * - removal: the upper's entry is removed and, when a lower layer still
 *   shows the name, a 0/0 character device (whiteout) is made in its place;
 * - creation over a whiteout or a lower entry: the whiteout is removed; a
 *   directory made where a lower layer shows the name is marked
 *   `trusted.overlay.opaque=y`, so it does not merge with it;
 * - an opaque marker (`.wh..wh..opq`) removes from the upper what this layer
 *   did not unpack and marks the directory opaque (the root, which overlayfs
 *   always merges, gets whiteouts instead).
 * Every call goes through the layers' RootFs: nothing reaches outside them.
 */
import { readSync, writeSync } from 'node:fs';
import { release } from 'node:os';
import {
  close,
  fchmod,
  fchown,
  fsetxattr,
  futimens,
  isErrno,
  O_CREAT,
  O_EXCL,
  O_RDONLY,
  O_WRONLY,
  S_IFCHR,
  S_IFDIR,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  type Stat,
  UTIME_NOW,
  UTIME_OMIT,
} from '../sys/linux.js';
import type { RootFs } from '../sys/rootfs.js';
import { forgetUnder } from './paths.js';
import { type Found, OPAQUE_XATTR, Union } from './union.js';

const COPY_CHUNK = 1 << 20;

export class UpperDir {
  readonly #union: Union;
  /** Directories known to exist in the upper (dropped with any removal). */
  readonly #dirs = new Set<string>(['']);
  /** Whiteouts in the upper, all made by this layer (the upper starts empty). */
  readonly #whiteouts = new Set<string>();

  private constructor(union: Union) {
    this.#union = union;
  }

  static open(upper: string, lowers: readonly string[]): UpperDir {
    return new UpperDir(Union.open(upper, lowers));
  }

  /** The upperdir, where the writer's own calls go. */
  get root(): RootFs {
    return this.#union.upper;
  }

  close(): void {
    this.#union.close();
  }

  /** What the merged view shows at `path`. */
  lookup(path: string): Found | undefined {
    const [dir, name] = split(path);
    return this.#union.lookup(dir, name);
  }

  /** A symlink's target, read from the layer that shows it. */
  readlink(path: string, found: Found): Buffer {
    return this.#union.layer(found.layer).readlink(path);
  }

  /** The directory `dir`, visible in the merged view, is in the upper too (copied up if not). */
  ensureDir(dir: string): void {
    if (this.#dirs.has(dir)) return;
    const upper = this.root;
    const st = upper.tryLstat(dir);
    if (st !== undefined && (st.mode & S_IFMT) === S_IFDIR) {
      this.#dirs.add(dir);
      return;
    }
    const [parent] = split(dir);
    this.ensureDir(parent);
    const found = this.lookup(dir);
    if (found === undefined || (found.st.mode & S_IFMT) !== S_IFDIR) {
      throw new Error(`upper: "${dir}" is not a directory of the merged view`);
    }
    this.#keepingTimes(parent, () => {
      upper.mkdir(dir, 0o700);
      this.#copyMeta(found, dir);
    });
    this.#union.madeDir(dir);
    this.#dirs.add(dir);
  }

  /**
   * Readies `path`, which the merged view does not show, for a new entry:
   * its parent is in the upper and no whiteout is left at it.
   */
  prepare(path: string): void {
    const [dir] = split(path);
    this.ensureDir(dir);
    if (!this.#whiteouts.delete(path)) return;
    try {
      this.root.unlink(path);
    } catch (err) {
      if (!isErrno(err, 'ENOENT', 'ENOTDIR')) throw err; // removed with a directory since
    }
  }

  /** The layer itself made a 0/0 character device at `path`. */
  whiteoutMade(path: string): void {
    this.#whiteouts.add(path);
    this.#union.changed(path);
  }

  /**
   * mkdir of a name the merged view does not show. Where a lower layer has
   * the name, the directory is marked opaque, as overlayfs marks one made
   * over a whiteout, so that it does not merge with what is below.
   */
  mkdir(path: string, mode: number): void {
    const [dir, name] = split(path);
    this.prepare(path);
    const covered = this.#union.lookup(dir, name, true) !== undefined;
    this.root.mkdir(path, mode);
    if (covered) {
      this.root.lsetxattr(path, OPAQUE_XATTR, Buffer.from('y'));
      this.#union.changed(path);
    } else {
      this.#union.madeDir(path);
    }
    this.#dirs.add(path);
  }

  /** Removes what the merged view shows at `path` (rm -rf); false when nothing was there. */
  remove(path: string | Buffer, dir: string, name: string | Buffer): boolean {
    const union = this.#union;
    if (union.lookup(dir, name) === undefined) return false;
    this.root.removeAll(path);
    // What was at `path` and below it is gone; the merges and directories
    // above and beside it stand. (A name that is not UTF-8 keys nothing
    // here: its lossy string only makes the forgetting broader.)
    const key = typeof path === 'string' ? path : path.toString('utf8');
    forgetUnder(this.#dirs, key);
    union.changed(key);
    if (union.lookup(dir, name) !== undefined) {
      this.ensureDir(dir);
      this.root.mknod(path, S_IFCHR, 0, 0);
      this.#whiteouts.add(key);
      union.changed(key);
    }
    return true;
  }

  /** A lower-only entry (not a directory) is copied into the upper, as overlayfs does before linking to it. */
  copyUp(path: string, found: Found): void {
    if (found.layer === 0) return;
    const [dir] = split(path);
    this.ensureDir(dir);
    const lower = this.#union.layer(found.layer);
    const upper = this.root;
    const type = found.st.mode & S_IFMT;
    this.#keepingTimes(dir, () => {
      if (type === S_IFREG) {
        const src = lower.openFile(path, O_RDONLY);
        try {
          const dst = upper.openFile(path, O_WRONLY | O_CREAT | O_EXCL, 0o600);
          try {
            copyData(src, dst);
            fchown(dst, found.st.uid, found.st.gid);
            for (const [n, v] of xattrsOf(lower, path)) fsetxattr(dst, n, v);
            fchmod(dst, found.st.mode & 0o7777);
            futimens(dst, found.st.atime, found.st.mtime);
          } finally {
            close(dst);
          }
        } finally {
          close(src);
        }
        return;
      }
      if (type === S_IFLNK) upper.symlink(lower.readlink(path), path);
      else
        upper.mknod(path, found.st.mode & (S_IFMT | 0o777), found.st.rdevMajor, found.st.rdevMinor);
      this.#copyMeta(found, path);
    });
  }

  /**
   * `.wh..wh..opq` in `dir`: what the merged view shows there that this
   * layer did not unpack (`unpacked`, real paths) is removed, recursively
   * into the directories kept; a directory left with nothing of this
   * layer's is marked opaque. The same steps, and so the same result, as
   * the write through the merged view (layer-writer.ts), where a removed
   * lower entry becomes a whiteout and the emptied directory is made again,
   * which overlayfs marks opaque and which touches its parent.
   */
  opaque(dir: string, unpacked: ReadonlySet<string>): void {
    const upper = this.root;
    let kept = 0;
    for (const raw of this.#union.readdir(dir)) {
      const name = raw.toString('utf8');
      const p = join(dir, name);
      if (!isUtf8Name(raw) || !unpacked.has(p)) {
        this.remove(dir === '' ? raw : Buffer.concat([Buffer.from(`${dir}/`), raw]), dir, raw);
        continue;
      }
      kept++;
      if ((upper.lstat(p).mode & S_IFMT) === S_IFDIR) this.opaque(p, unpacked);
    }
    if (kept > 0 || dir === '') return;
    this.ensureDir(dir);
    upper.removeChildren(dir); // whiteouts only: nothing of this layer's is left in it
    upper.lsetxattr(dir, OPAQUE_XATTR, Buffer.from('y'));
    forgetUnder(this.#dirs, dir);
    this.#dirs.add(dir);
    this.#union.changed(dir);
    upper.lutimes(split(dir)[0], { sec: 0, nsec: UTIME_OMIT }, { sec: 0, nsec: UTIME_NOW });
  }

  /** Owner, xattrs (overlayfs' own aside), mode (not for symlinks) and times of `found`, onto the upper's `path`. */
  #copyMeta(found: Found, path: string): void {
    const upper = this.root;
    const st = found.st;
    upper.lchown(path, st.uid, st.gid);
    for (const [n, v] of xattrsOf(this.#union.layer(found.layer), path))
      upper.lsetxattr(path, n, v);
    if ((st.mode & S_IFMT) !== S_IFLNK) upper.chmod(path, st.mode & 0o7777);
    upper.lutimes(path, st.atime, st.mtime);
  }

  /** Runs `fn`, then puts back the upper directory `dir`'s times (overlayfs' copy-up does). */
  #keepingTimes(dir: string, fn: () => void): void {
    const st: Stat = this.root.lstat(dir);
    fn();
    this.root.lutimes(dir, st.atime, st.mtime);
  }
}

const OWN = 'trusted.overlay.';
const ESCAPED = 'trusted.overlay.overlay.';

/**
 * overlayfs (since Linux 6.7) lets `trusted.overlay.<x>` be set through the
 * merged view and stores it escaped, as `trusted.overlay.overlay.<x>`, so it
 * has no meaning to overlayfs (no forged opaque mark or redirect) and shows
 * as `trusted.overlay.<x>` again in the merged view; older kernels refuse it
 * (EOPNOTSUPP, which the layer writer skips). The name a layer's xattr gets
 * in the upperdir, or undefined when it is not set.
 */
export function upperXattrName(name: string): string | undefined {
  if (!name.startsWith(OWN)) return name;
  return ESCAPING ? ESCAPED + name.slice(OWN.length) : undefined;
}

const ESCAPING = (() => {
  const [major = 0, minor = 0] = release()
    .split('.')
    .map((n) => Number.parseInt(n, 10));
  return major > 6 || (major === 6 && minor >= 7);
})();

/** The xattrs of a layer's entry that overlayfs copies up: its own aside, escaped ones kept. */
function xattrsOf(layer: RootFs, path: string): [string, Buffer][] {
  const out: [string, Buffer][] = [];
  let names: string[];
  try {
    names = layer.llistxattr(path);
  } catch (err) {
    if (isErrno(err, 'ENOTSUP', 'EOPNOTSUPP')) return out;
    throw err;
  }
  for (const n of names) {
    if (n.startsWith(OWN) && !n.startsWith(ESCAPED)) continue;
    out.push([n, layer.lgetxattr(path, n)]);
  }
  return out;
}

function copyData(src: number, dst: number): void {
  const buf = Buffer.allocUnsafe(COPY_CHUNK);
  for (;;) {
    const n = readSync(src, buf, 0, buf.length, null);
    if (n === 0) return;
    let off = 0;
    while (off < n) off += writeSync(dst, buf, off, n - off);
  }
}

function isUtf8Name(raw: Buffer): boolean {
  return raw.equals(Buffer.from(raw.toString('utf8')));
}

function split(path: string): [string, string] {
  const cut = path.lastIndexOf('/');
  return cut < 0 ? ['', path] : [path.slice(0, cut), path.slice(cut + 1)];
}

function join(dir: string, name: string): string {
  return dir === '' ? name : `${dir}/${name}`;
}
