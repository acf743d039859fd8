/**
 * @module
 * Device nodes as the spec writes them: the numbers (`major`, `minor` of a
 * node's `st_rdev`), the type and permission bits.
 */
import type { LinuxDevice } from './types.js';

/** The major number of a Linux device number (glibc's encoding, as Go's unix.Major). */
export function major(dev: bigint): number {
  return Number(((dev & 0xfff00n) >> 8n) | ((dev & 0xfffff00000000000n) >> 32n));
}

/** The minor number of a Linux device number (as Go's unix.Minor). */
export function minor(dev: bigint): number {
  return Number((dev & 0xffn) | ((dev & 0xffffff00000n) >> 12n));
}

/** The file type bits of `st_mode` and the types of device node. */
export const S_IFMT = 0o170000;
const S_IFBLK = 0o060000;
const S_IFCHR = 0o020000;
const S_IFIFO = 0o010000;

/** Directories of /dev that hold no devices of a container's own (containerd's getDevices skips them). */
export const SKIPPED_DEV_DIRS: ReadonlySet<string> = new Set([
  'pts',
  'shm',
  'fd',
  'mqueue',
  '.lxc',
  '.lxd-mounts',
  '.udev',
]);

/**
 * The spec's device for the node at `path` with lstat(2)'s `st_mode` (file
 * type bits included), `st_rdev` and owner: type `b`, `c` or `p`, the
 * numbers and the permission bits; undefined for any other file type.
 */
export function deviceFromStat(
  path: string,
  st: { mode: number; rdev: bigint; uid: number; gid: number },
): LinuxDevice | undefined {
  const kind = st.mode & S_IFMT;
  const type = kind === S_IFBLK ? 'b' : kind === S_IFCHR ? 'c' : kind === S_IFIFO ? 'p' : undefined;
  if (!type) return undefined;
  return {
    path,
    type,
    major: major(st.rdev),
    minor: minor(st.rdev),
    fileMode: st.mode & ~S_IFMT,
    uid: st.uid,
    gid: st.gid,
  };
}
