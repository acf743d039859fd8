import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Usage } from '../core/snapshots/index.js';

/** How many lstat/readdir calls one walk keeps in flight. */
const WORKERS = 16;

/**
 * Disk usage of the tree at `root`, as containerd's continuity
 * `fs.DiskUsage` counts it: every distinct inode (hard links once, the root
 * included) and the bytes allocated to them (`st_blocks` × 512, so holes do
 * not count and directories count their blocks).
 */
export async function diskUsage(root: string, signal?: AbortSignal): Promise<Usage> {
  const seen = new Set<string>();
  let size = 0n;
  const queue: string[] = [root];
  let active = 0;
  let failure: unknown;
  await new Promise<void>((resolve, reject) => {
    const pump = () => {
      if (failure !== undefined) return;
      if (queue.length === 0 && active === 0) {
        resolve();
        return;
      }
      while (active < WORKERS && queue.length > 0) {
        const path = queue.pop() as string;
        active++;
        visit(path).then(
          () => {
            active--;
            pump();
          },
          (err: unknown) => {
            failure = err;
            reject(err);
          },
        );
      }
    };
    const visit = async (path: string) => {
      signal?.throwIfAborted();
      const st = await lstat(path, { bigint: true });
      const key = `${st.dev}:${st.ino}`;
      if (!seen.has(key)) {
        seen.add(key);
        size += st.blocks * 512n;
      }
      if (st.isDirectory()) {
        for (const name of await readdir(path)) queue.push(join(path, name));
      }
    };
    pump();
  });
  return { size: Number(size), inodes: seen.size };
}
