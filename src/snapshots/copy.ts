import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';

/**
 * util-linux `setpriv`, when there is one: it gives `cp` a parent-death
 * signal, so a copy never outlives a daemon killed with -9 (and never races
 * the Cleanup of the next start).
 */
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));

/**
 * Copies the tree `src` onto the existing directory `dst` (its contents and
 * the root's own owner, mode and times) with GNU `cp -a --reflink=auto`:
 * owners, modes (setuid included), times, xattrs (cp skips those it may not
 * set, as containerd's copy does with its xattr error handler), hard links,
 * symlinks, devices, FIFOs and sparse files are kept; on filesystems that
 * share extents (btrfs, xfs) nothing is copied at all.
 */
export function copyTree(src: string, dst: string, signal?: AbortSignal): Promise<void> {
  const cp = ['cp', '-a', '--reflink=auto', '--no-target-directory', '--', src, dst];
  const [file, ...args] = SETPRIV ? [SETPRIV, '--pdeathsig', 'KILL', '--', ...cp] : cp;
  return new Promise((resolve, reject) => {
    execFile(
      file as string,
      args,
      { ...(signal && { signal }), maxBuffer: 1 << 20 },
      (err, _stdout, stderr) => {
        if (err) {
          reject(new Error(`copying ${src}: ${stderr.trim() || err.message}`, { cause: err }));
        } else {
          resolve();
        }
      },
    );
  });
}
