/**
 * @module
 * The double walk of Compare (continuity's fs.Changes, containerd's
 * doubleWalkDiff): both trees in byte order of names, never following a
 * symlink; what only `upper` has is added (a new directory with everything
 * in it), what only `lower` has is deleted (a directory as one deletion),
 * what both have is modified when it differs (see `same`). Names must be
 * UTF-8, as in apply (paths.ts).
 */
import { isUtf8 } from 'node:buffer';
import { readdirSync } from 'node:fs';
import type { TarEntryType } from '../archive/index.js';
import { invalidArgument } from '../core/errdefs/index.js';
import {
  AT_FDCWD,
  AT_SYMLINK_NOFOLLOW,
  isErrno,
  lgetxattr,
  llistxattr,
  readlinkat,
  S_IFBLK,
  S_IFCHR,
  S_IFDIR,
  S_IFIFO,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  type Stat,
  tryFstatat,
} from '../sys/linux.js';

export interface Entry {
  abs: string;
  type: TarEntryType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  nlink: number;
  ino: bigint;
  mtime: { sec: number; nsec: number };
  rdevMajor: number;
  rdevMinor: number;
  linkname: string;
  xattrs: Map<string, Buffer>;
}

export type Change =
  | { kind: 'delete'; path: string; parentEntry: (p: string) => Entry }
  | { kind: 'add' | 'modify'; path: string; entry: Entry; parentEntry: (p: string) => Entry };

const TYPES = new Map<number, TarEntryType>([
  [S_IFREG, 'file'],
  [S_IFDIR, 'dir'],
  [S_IFLNK, 'symlink'],
  [S_IFCHR, 'char'],
  [S_IFBLK, 'block'],
  [S_IFIFO, 'fifo'],
]);

/** Xattrs that describe the host or the overlay, not the layer. */
const SKIP_XATTR = (name: string) =>
  name.startsWith('trusted.overlay.') || name === 'security.selinux';

export function* changes(lowerDir: string, upperDir: string): Generator<Change> {
  const parentEntry = (p: string): Entry => {
    const e = entry(upperDir, p);
    if (!e) throw invalidArgument(`diff: ${p} vanished from the upper tree`);
    return e;
  };
  yield* walk(lowerDir, upperDir, '', true, parentEntry);
}

function* walk(
  lowerDir: string,
  upperDir: string,
  rel: string,
  hasLower: boolean,
  parentEntry: (p: string) => Entry,
): Generator<Change> {
  const lower = hasLower ? names(lowerDir, rel) : [];
  const upper = names(upperDir, rel);
  let i = 0;
  let j = 0;
  while (i < lower.length || j < upper.length) {
    const l = lower[i];
    const u = upper[j];
    const cmp = l === undefined ? 1 : u === undefined ? -1 : Buffer.compare(l, u);
    const name = (cmp < 0 ? l : u)!.toString('utf8');
    const path = rel === '' ? name : `${rel}/${name}`;
    if (cmp < 0) {
      i++;
      yield { kind: 'delete', path, parentEntry };
      continue;
    }
    j++;
    if (cmp === 0) i++;
    const ue = entry(upperDir, path);
    if (!ue) continue; // a socket, or gone
    const le = cmp === 0 ? entry(lowerDir, path) : undefined;
    if (!le || !same(le, ue)) yield { kind: le ? 'modify' : 'add', path, entry: ue, parentEntry };
    if (ue.type === 'dir') yield* walk(lowerDir, upperDir, path, le?.type === 'dir', parentEntry);
  }
}

function names(root: string, rel: string): Buffer[] {
  let list: Buffer[];
  try {
    list = readdirSync(rel === '' ? root : `${root}/${rel}`, { encoding: 'buffer' });
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ENOTDIR')) return [];
    throw err;
  }
  for (const n of list) {
    if (!isUtf8(n)) {
      throw invalidArgument(
        `diff: ${JSON.stringify(`${rel}/${n.toString('utf8')}`)}: name is not valid UTF-8`,
      );
    }
  }
  return list.sort(Buffer.compare);
}

function entry(root: string, rel: string): Entry | undefined {
  const abs = `${root}/${rel}`;
  const st: Stat | undefined = tryFstatat(AT_FDCWD, abs, AT_SYMLINK_NOFOLLOW);
  if (!st) return undefined;
  const type = TYPES.get(st.mode & S_IFMT);
  if (!type) return undefined;
  const xattrs = new Map<string, Buffer>();
  try {
    for (const name of llistxattr(abs).sort()) {
      if (!SKIP_XATTR(name)) xattrs.set(name, lgetxattr(abs, name));
    }
  } catch (err) {
    if (!isErrno(err, 'ENOTSUP', 'EOPNOTSUPP')) throw err;
  }
  return {
    abs,
    type,
    mode: st.mode,
    uid: st.uid,
    gid: st.gid,
    size: type === 'file' ? st.size : 0,
    nlink: st.nlink,
    ino: st.ino,
    mtime: { sec: st.mtime.sec, nsec: st.mtime.nsec },
    rdevMajor: st.rdevMajor,
    rdevMinor: st.rdevMinor,
    linkname: type === 'symlink' ? readlinkat(AT_FDCWD, abs).toString('utf8') : '',
    xattrs,
  };
}

function same(a: Entry, b: Entry): boolean {
  if (a.type !== b.type || a.mode !== b.mode || a.uid !== b.uid || a.gid !== b.gid) return false;
  if (a.size !== b.size || a.rdevMajor !== b.rdevMajor || a.rdevMinor !== b.rdevMinor) return false;
  if (a.linkname !== b.linkname) return false;
  // Directories' times change with their contents: compared by their entries instead.
  if (a.type !== 'dir' && (a.mtime.sec !== b.mtime.sec || a.mtime.nsec !== b.mtime.nsec))
    return false;
  if (a.xattrs.size !== b.xattrs.size) return false;
  for (const [k, v] of a.xattrs) if (!b.xattrs.get(k)?.equals(v)) return false;
  return true;
}
