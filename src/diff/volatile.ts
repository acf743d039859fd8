/**
 * @module
 * The overlay a layer is written through is mounted `volatile`. Unmounting
 * an overlay syncs its upper filesystem, all of it (overlayfs' sync_fs syncs
 * the upper superblock): a syncfs of the host's disk at the end of every
 * layer, 0.2 s on a quiet disk and seconds when other writers keep it busy.
 * containerd writes the upperdir directly and syncs nothing there either;
 * the files reach the disk by the kernel's writeback like any other.
 *
 * The kernel marks a workdir used `volatile` with `<workdir>/work/incompat/
 * volatile` and refuses to mount it again while that is there, so it is
 * removed after the unmount: the snapshot can be mounted as before. A
 * kernel without the option (before 5.10) refuses the mount with EINVAL,
 * and the layer is written through a plain overlay mount.
 */
import { isAbsolute, join } from 'node:path';
import type { Mount } from '../core/mount/index.js';
import { removeTree } from '../sys/remove-tree.js';

/** Overlay mounts with an upperdir gain `volatile`; undefined when none has one. */
export function withVolatile(mounts: readonly Mount[]): Mount[] | undefined {
  if (!mounts.some(writable)) return undefined;
  return mounts.map((m) => (writable(m) ? { ...m, options: [...m.options, 'volatile'] } : m));
}

/** Removes the kernel's `volatile` marker from the workdirs of `mounts` (once unmounted). */
export function clearVolatile(mounts: readonly Mount[]): void {
  for (const m of mounts) {
    if (!writable(m)) continue;
    const work = option(m, 'workdir');
    if (work === undefined || !isAbsolute(work)) continue;
    removeTree(join(work, 'work', 'incompat'), work);
  }
}

function writable(m: Mount): boolean {
  return (
    m.type === 'overlay' && option(m, 'upperdir') !== undefined && !m.options.includes('volatile')
  );
}

function option(m: Mount, key: string): string | undefined {
  const o = m.options.find((x) => x.startsWith(`${key}=`));
  return o?.slice(key.length + 1);
}
