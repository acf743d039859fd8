/**
 * Where the pull benches put both daemons' roots, and what they do between
 * rounds.
 *
 * This machine's root is an ext4 without a journal. There, the inode
 * allocator skips every free inode deleted less than 5 s ago (300 s while
 * its inode table block is dirty, and creating files in the block dirties
 * it again) and restarts its scan of the group for each new inode: after a
 * mass delete (the previous round's `images rm --sync`, another session's
 * test cleanup, the bench image's own build tree) the next unpack's 10,000
 * file creations cost seconds of kernel time (`recently_deleted` and
 * `find_get_block_common` on top of a perf profile of either daemon's
 * apply), paid by whichever daemon pulls next: one round of either took
 * anywhere from 1.5 to 8 s. A journaled ext4 makes no such check, so the
 * benches run both daemons on a fresh one (a loop-mounted sparse image file).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')}: ${r.status ?? r.signal}\n${r.stderr}`);
  }
}

export interface ScratchFs {
  /** The mount point. */
  path: string;
  /** Unmounts it (the daemons must be stopped and their directories removed). */
  unmount(): void;
}

/** A fresh 4 GiB ext4 with its default journal, loop-mounted under `dir` (a sparse image file there). */
export function scratchExt4(dir: string): ScratchFs {
  const image = join(dir, 'fs.img');
  const path = join(dir, 'mnt');
  mkdirSync(path);
  run('truncate', ['-s', '4G', image]);
  run('mkfs.ext4', ['-q', '-F', image]);
  run('mount', ['-o', 'loop', image, path]);
  return { path, unmount: () => run('umount', [path]) };
}

/**
 * Between rounds: `sync` (the removal's writeback is not the next pull's),
 * then 6 s, past ext4's 5 s window for recently deleted inodes (the rest of
 * the fix on an unjournaled root, `--fs host`) and past berthd's 5 s idle
 * timeout for its apply worker, so every berthd pull starts as after an idle
 * spell: the worker's start is in its time.
 */
export async function settle(): Promise<void> {
  run('sync', []);
  await new Promise((r) => setTimeout(r, 6000));
}
