/**
 * @module netns
 * Pinned network namespaces: a new netns bind-mounted on a file, so it
 * outlives any process in it (containerd's pkg/netns, netns files under the
 * daemon's state dir). Root only.
 */
import { randomUUID } from 'node:crypto';
import { closeSync, mkdirSync, openSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { isErrno, MNT_DETACH, MS_BIND, mount, umount2 } from './linux.js';
import { assertInside } from './remove-tree.js';
import { spawnDetached } from './spawn.js';

const UNSHARE_CANDIDATES = ['/usr/bin/unshare', '/bin/unshare', '/usr/sbin/unshare'];
const TIMEOUT_MS = 10_000;

function unshareBinary(): string {
  for (const p of UNSHARE_CANDIDATES) {
    try {
      if (statSync(p).isFile()) return p;
    } catch {
      // Try the next.
    }
  }
  throw new Error(
    `netns: util-linux unshare not found (looked in ${UNSHARE_CANDIDATES.join(', ')})`,
  );
}

/** Runs util-linux `unshare --net=<path> true`: a new netns, bind-mounted on `path` (an existing file). */
async function pin(path: string): Promise<void> {
  const child = spawnDetached(unshareBinary(), [`--net=${path}`, 'true'], {
    cwd: '/',
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
  });
  child.stdin.end();
  child.stdout.resume();
  const err: Buffer[] = [];
  child.stderr.on('data', (b: Buffer) => err.push(b));
  const stderrClosed = new Promise<void>((resolve) => child.stderr.on('close', () => resolve()));
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), TIMEOUT_MS);
  });
  const exit = await Promise.race([child.exited, timedOut]);
  clearTimeout(timer);
  if (exit === 'timeout') {
    child.kill('SIGKILL');
    await child.exited;
    throw new Error(`netns ${path}: unshare did not finish within ${TIMEOUT_MS} ms`);
  }
  await stderrClosed;
  if (exit.code !== 0) {
    const how = exit.signal ? `signal ${exit.signal}` : `exit status ${exit.code}`;
    throw new Error(
      `netns ${path}: unshare failed (${how}): ${Buffer.concat(err).toString('utf8').trim()}`,
    );
  }
}

/**
 * Creates a new network namespace pinned on a fresh file `cni-<uuid>` in
 * `dir` (created if missing) and answers its path. On failure nothing is
 * left behind: no mount, no file.
 */
export async function createNetns(dir: string): Promise<string> {
  const path = newNetnsPath(dir);
  await createNetnsAt(path, dir);
  return path;
}

/** A fresh name for a network namespace file under `dir` (`cni-<uuid>`), not yet created. */
export function newNetnsPath(dir: string): string {
  const path = join(dir, `cni-${randomUUID()}`);
  assertInside(path, dir);
  return path;
}

/**
 * Creates and pins a new network namespace at `path` (from {@link newNetnsPath}),
 * for a caller that needs the name before the namespace exists (a spec to
 * write meanwhile). On failure nothing is left at `path`.
 */
export async function createNetnsAt(path: string, dir: string): Promise<void> {
  assertInside(path, dir);
  mkdirSync(dir, { recursive: true, mode: 0o711 });
  closeSync(openSync(path, 'wx', 0o444));
  try {
    await pin(path);
  } catch (e) {
    unpin(path);
    unlinkSync(path);
    throw e;
  }
}

/**
 * Pins an existing network namespace (`nsPath`, e.g. `/proc/<pid>/ns/net`)
 * on a fresh file `path` under `dir` by a bind mount, so it outlives its
 * processes and is named by a path no other process can come to own (a pid
 * can be reused; a pinned file cannot). `path` must not exist. On failure
 * nothing is left at `path`. Undo with {@link removeNetns}.
 */
export function pinNetnsAt(nsPath: string, path: string, dir: string): void {
  assertInside(path, dir);
  mkdirSync(dir, { recursive: true, mode: 0o711 });
  closeSync(openSync(path, 'wx', 0o444));
  try {
    mount(nsPath, path, null, MS_BIND);
  } catch (e) {
    unlinkSync(path);
    throw e;
  }
}

/** Unmounts every mount stacked on `path`; EINVAL says none is left. */
function unpin(path: string): void {
  for (let i = 0; i < 16; i++) {
    try {
      umount2(path, MNT_DETACH);
    } catch (e) {
      if (isErrno(e, 'EINVAL', 'ENOENT')) return;
      throw e;
    }
  }
}

/**
 * Unmounts and removes a netns file created by {@link createNetns}. Refuses
 * a path outside `dir`. Idempotent: a missing or unmounted file is fine.
 */
export async function removeNetns(path: string, dir: string): Promise<void> {
  assertInside(path, dir);
  unpin(path);
  try {
    unlinkSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

/** Whether `path` is a pinned netns now (an nsfs mount), as opposed to a plain file. */
export function isPinnedNetns(path: string): boolean {
  try {
    // An nsfs bind mount shows the namespace inode's device, not its directory's.
    return statSync(path).dev !== statSync(join(path, '..')).dev;
  } catch {
    return false;
  }
}
