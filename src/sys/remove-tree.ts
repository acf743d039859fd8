import { rmSync } from 'node:fs';
import { isAbsolute, relative, resolve, sep } from 'node:path';

/**
 * Recursively removes `target`, but only if it lies strictly inside `within`.
 * Every recursive delete in berth goes through here: we run as root, and a
 * wrong variable must not be able to reach outside the tree it owns.
 */
export function removeTree(target: string, within: string): void {
  assertInside(target, within);
  rmSync(target, { recursive: true, force: true });
}

/** Throws unless `target` is an absolute path strictly below `within`. */
export function assertInside(target: string, within: string): void {
  if (!isAbsolute(target) || !isAbsolute(within)) {
    throw new Error(`refusing path ${JSON.stringify(target)}: paths must be absolute`);
  }
  const root = resolve(within);
  const rel = relative(root, resolve(target));
  if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
    throw new Error(`refusing path ${JSON.stringify(target)}: not inside ${JSON.stringify(root)}`);
  }
  if (root === '/') {
    throw new Error(`refusing path ${JSON.stringify(target)}: "/" is not a tree berth owns`);
  }
}
