/**
 * @module
 * Linux device numbers as the spec writes them (`major`, `minor` of a
 * device node's `st_rdev`).
 */

/** The major number of a Linux device number (glibc's encoding, as Go's unix.Major). */
export function major(dev: bigint): number {
  return Number(((dev & 0xfff00n) >> 8n) | ((dev & 0xfffff00000000000n) >> 32n));
}

/** The minor number of a Linux device number (as Go's unix.Minor). */
export function minor(dev: bigint): number {
  return Number((dev & 0xffn) | ((dev & 0xffffff00000n) >> 12n));
}
