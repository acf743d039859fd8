/**
 * Pinned network namespaces, until cri-cni's `src/sys/netns.ts` replaces
 * this file (same signatures). A namespace is created by util-linux's
 * `unshare --net=<file>`, which bind-mounts the new namespace on `<file>`
 * so it outlives every process in it (and berthd): containerd's
 * netns.NewNetNS does the same from a thread of its own.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, mkdirSync, openSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { unavailable } from '../../core/errdefs/index.js';
import { isErrno, MNT_DETACH, umount2 } from '../../sys/linux.js';
import { assertInside } from '../../sys/remove-tree.js';

const run = promisify(execFile);

/** Creates a network namespace pinned at `<dir>/cni-<uuid>`; answers its path. */
export async function createNetns(dir: string): Promise<string> {
  mkdirSync(dir, { recursive: true, mode: 0o711 });
  const path = join(dir, `cni-${randomUUID()}`);
  closeSync(openSync(path, 'wx', 0o444));
  try {
    await run('unshare', [`--net=${path}`, 'true']);
  } catch (err) {
    rmSync(path, { force: true });
    const e = err as { stderr?: string; message: string };
    throw unavailable(`create network namespace ${path}: ${(e.stderr ?? e.message).trim()}`, {
      cause: err,
    });
  }
  return path;
}

/** Unpins and removes a namespace `createNetns` made under `dir`; a missing one is fine. */
export async function removeNetns(path: string, dir: string): Promise<void> {
  assertInside(path, dir);
  try {
    umount2(path, MNT_DETACH);
  } catch (err) {
    if (!isErrno(err, 'EINVAL', 'ENOENT')) throw err;
  }
  rmSync(path, { force: true });
}
