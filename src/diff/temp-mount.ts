/**
 * @module
 * containerd's mount.WithTempMount: mounts a set of mounts on a fresh
 * directory under a temp area, runs a function on it, and always unmounts
 * (lazily, as a last resort) and removes the directory, whatever happened.
 */
import { mkdtempSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Mount } from '../core/mount/index.js';
import { MNT_DETACH } from '../sys/linux.js';
import { mountAll, unmountAll } from '../sys/mount.js';

export async function withTempMount<T>(
  tempRoot: string,
  mounts: readonly Mount[],
  fn: (root: string) => Promise<T>,
  opts: { readonly?: boolean } = {},
): Promise<T> {
  const dir = mkdtempSync(join(tempRoot, 'mount-'));
  let mounted = false;
  try {
    if (mounts.length > 0) {
      const specs = mounts.map((m) => ({
        type: m.type,
        source: m.source,
        options: opts.readonly ? readonlyOptions(m) : m.options,
      }));
      mountAll(specs, dir);
      mounted = true;
    }
    return await fn(dir);
  } finally {
    if (mounted) {
      try {
        unmountAll(dir);
      } catch {
        unmountAll(dir, MNT_DETACH);
      }
    }
    rmdirSync(dir);
  }
}

/** containerd's readonlyMounts: overlay loses its upper and work dirs (lowerdir gains the upper), others gain `ro`. */
function readonlyOptions(m: Mount): string[] {
  if (m.type !== 'overlay') return [...m.options.filter((o) => o !== 'rw'), 'ro'];
  let upper = '';
  const rest: string[] = [];
  for (const o of m.options) {
    if (o.startsWith('upperdir=')) upper = o.slice('upperdir='.length);
    else if (!o.startsWith('workdir=')) rest.push(o);
  }
  if (upper === '') return [...rest, 'ro'];
  return rest.map((o) =>
    o.startsWith('lowerdir=') ? `lowerdir=${upper}:${o.slice('lowerdir='.length)}` : o,
  );
}
