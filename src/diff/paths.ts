/**
 * @module
 * The path policy of layer entries, applied to the names the tar reader
 * returns before anything touches the disk. Names are refused, never
 * cleaned into something else: a layer that needs cleaning is hostile or
 * broken, and failing it names the entry.
 */
import { isUtf8 } from 'node:buffer';
import { invalidArgument } from '../core/errdefs/index.js';

/** Linux NAME_MAX and PATH_MAX (with its NUL). */
export const NAME_MAX = 255;
export const PATH_MAX = 4096;

export const WHITEOUT_PREFIX = '.wh.';
export const WHITEOUT_META_PREFIX = '.wh..wh.';
export const WHITEOUT_OPAQUE = '.wh..wh..opq';

/**
 * The components of an entry name, `.` and empty ones dropped (so `./a/`
 * is `['a']` and `./` is the root, `[]`). Refuses, naming the entry:
 * names that are not UTF-8 (berth keeps names as strings; see
 * docs/architecture.md), NUL bytes, absolute names, `..` components, a
 * component over 255 bytes and a name over 4095 bytes.
 */
export function entryComponents(nameBytes: Buffer, what?: string): string[] {
  const label = what ?? `entry ${JSON.stringify(nameBytes.toString('utf8'))}`;
  if (!isUtf8(nameBytes)) {
    throw invalidArgument(`${label}: name is not valid UTF-8 (berth refuses such names)`);
  }
  const name = nameBytes.toString('utf8');
  if (name.includes('\0')) throw invalidArgument(`${label}: name holds a NUL byte`);
  if (name.startsWith('/')) throw invalidArgument(`${label}: absolute path`);
  if (nameBytes.length >= PATH_MAX) {
    throw invalidArgument(`${label}: name is ${nameBytes.length} bytes, over PATH_MAX`);
  }
  const parts: string[] = [];
  for (const c of name.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') throw invalidArgument(`${label}: path has a ".." component`);
    // A UTF-16 unit is at most 3 UTF-8 bytes: only a long component needs counting.
    if (c.length * 3 > NAME_MAX && Buffer.byteLength(c) > NAME_MAX) {
      throw invalidArgument(`${label}: a component is over ${NAME_MAX} bytes`);
    }
    parts.push(c);
  }
  return parts;
}

/** What a name means for the layer: an entry to write, or a whiteout. */
export type EntryKind =
  | { kind: 'root' }
  | { kind: 'entry'; dir: string[]; base: string }
  | { kind: 'whiteout'; dir: string[]; target: string }
  | { kind: 'opaque'; dir: string[] }
  | { kind: 'meta'; dir: string[]; base: string };

/**
 * Classifies an entry by its last component: `.wh..wh..opq` makes its
 * directory opaque, other `.wh..wh.*` names are whiteout metadata (aufs)
 * and skipped, `.wh.<name>` deletes `<name>` (refused when `<name>` is
 * empty, `.` or `..`), anything else is written.
 */
export function classify(nameBytes: Buffer): EntryKind {
  const parts = entryComponents(nameBytes);
  const base = parts.pop();
  if (base === undefined) return { kind: 'root' };
  if (base === WHITEOUT_OPAQUE) return { kind: 'opaque', dir: parts };
  if (base.startsWith(WHITEOUT_META_PREFIX)) return { kind: 'meta', dir: parts, base };
  if (base.startsWith(WHITEOUT_PREFIX)) {
    const target = base.slice(WHITEOUT_PREFIX.length);
    if (target === '' || target === '.' || target === '..') {
      throw invalidArgument(
        `entry ${JSON.stringify(nameBytes.toString('utf8'))}: whiteout names ${JSON.stringify(target)}, not an entry of its directory`,
      );
    }
    return { kind: 'whiteout', dir: parts, target };
  }
  return { kind: 'entry', dir: parts, base };
}

/**
 * Deletes `path` and every key below it (`path/…`) from a set or map keyed
 * by real paths inside a layer ('' is the root: everything goes).
 */
export function forgetUnder(keys: Set<string> | Map<string, unknown>, path: string): void {
  if (path === '') {
    keys.clear();
    return;
  }
  keys.delete(path);
  const prefix = `${path}/`;
  for (const k of keys.keys()) if (k.startsWith(prefix)) keys.delete(k);
}
