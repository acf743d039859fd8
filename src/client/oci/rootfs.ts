/**
 * @module
 * Read-only access to a container's root filesystem without mounting it:
 * the seam between user resolution (/etc/passwd, /etc/group) and where the
 * files come from (an image's layers through the content store, or a
 * directory on the client's host), and the symlink resolution both share.
 */
import { invalidArgument } from '../../core/errdefs/index.js';

/** An entry of a root filesystem, as lstat sees it. */
export interface RootNode {
  readonly type: 'file' | 'dir' | 'symlink' | 'other';
  /** A symlink's target, as stored. */
  readonly linkname?: string;
}

/**
 * A root filesystem to read from. Paths are relative to the root, clean
 * (no `.`, `..` or empty components, no leading or trailing `/`); `''` is
 * the root itself.
 */
export interface RootFS {
  /** What the root describes it as: `'the image "x"'`, `'rootfs "/path"'`. */
  readonly description: string;
  /**
   * Set when the contents can never change (layers, by digest): what a
   * file read from this root may be cached under.
   */
  readonly cacheKey?: string;
  /** The entry at `path`, a final symlink not followed; undefined if there is none. */
  lstat(path: string): Promise<RootNode | undefined>;
  /**
   * The contents of the regular file at `path` (no symlink along it),
   * undefined if there is none. Throws `invalid_argument` for something else
   * and `resource_exhausted` past `maxBytes`.
   */
  readFile(path: string, maxBytes: number): Promise<Buffer | undefined>;
}

/** The most symlinks one resolution follows, as continuity's fs.RootPath. */
export const MAX_SYMLINKS = 255;

/**
 * `path` with every symlink along it (the last component too) resolved inside
 * the root, as containerd's `fs.RootPath` resolves it: absolute targets start
 * again from the root, `..` never climbs above it, components that do not
 * exist are kept as they are. The result is clean and relative.
 */
export async function resolveInRoot(fs: RootFS, path: string): Promise<string> {
  let todo = components(path);
  const resolved: string[] = [];
  let followed = 0;
  while (todo.length > 0) {
    const name = todo.shift()!;
    if (name === '..') {
      resolved.pop();
      continue;
    }
    const candidate = [...resolved, name].join('/');
    const node = await fs.lstat(candidate);
    if (node?.type === 'symlink') {
      if (++followed > MAX_SYMLINKS) {
        throw invalidArgument(`resolving "/${path}" in ${fs.description}: too many symlinks`);
      }
      const target = node.linkname ?? '';
      if (target.startsWith('/')) resolved.length = 0;
      todo = [...components(target), ...todo];
      continue;
    }
    resolved.push(name);
  }
  return resolved.join('/');
}

/** Reads the file at `path` following symlinks inside the root; undefined if it does not exist. */
export async function readRootFile(
  fs: RootFS,
  path: string,
  maxBytes: number,
): Promise<Buffer | undefined> {
  return fs.readFile(await resolveInRoot(fs, path), maxBytes);
}

/** The components of a path, without empty ones and `.` (`..` kept). */
export function components(path: string): string[] {
  return path.split('/').filter((c) => c !== '' && c !== '.');
}

/**
 * A tar entry's name as a clean root-relative path, `..` applied; undefined
 * for names that climb out of the root (nothing the spec options read).
 */
export function cleanEntryPath(name: string): string | undefined {
  const out: string[] = [];
  for (const c of components(name)) {
    if (c !== '..') out.push(c);
    else if (out.pop() === undefined) return undefined;
  }
  return out.join('/');
}
