/**
 * @module
 * For root tests against the stock containerd-shim-runc-v2 and runc (the
 * runtime's own, and the CRI's container and IO tests): a ShimManager on a
 * temp directory, the daemon's events endpoint the shims forward to, a
 * busybox rootfs, runc's default spec, and the teardown that leaves no task,
 * shim, runc container or mount behind.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ForwardRequest } from '../../../api/containerd/services/ttrpc/events/v1/events.js';
import { Empty } from '../../../api/google/protobuf/empty.js';
import { type Logger, nullLogger } from '../../../core/log/index.js';
import type { OpContext } from '../../../core/namespaces/index.js';
import { unmountAll } from '../../../sys/mount.js';
import { removeTree } from '../../../sys/remove-tree.js';
import { TtrpcServer } from '../../../ttrpc/index.js';
import { type RuntimeEvents, ShimManager } from '../manager.js';

export const RUNC_SHIM = '/usr/bin/containerd-shim-runc-v2';

/** Why the real-shim tests cannot run here (root, the runc shim, /bin/busybox), or false. */
export function realShimSkip(): string | false {
  const ok = process.getuid?.() === 0 && existsSync(RUNC_SHIM) && existsSync('/bin/busybox');
  return !ok && 'needs root, the runc shim and busybox';
}

/**
 * A loaded ShimManager whose shims talk to `<dir>/daemon.sock(.ttrpc)` and
 * keep runc's state under `<dir>/runc`; its bundles under `roots` (default
 * `<dir>/state` and `<dir>/root`).
 */
export async function shimManagerIn(
  dir: string,
  opts: { roots?: { state: string; root: string }; events?: RuntimeEvents; log?: Logger } = {},
): Promise<ShimManager> {
  const m = new ShimManager({
    roots: opts.roots ?? { state: join(dir, 'state'), root: join(dir, 'root') },
    binary: {
      address: join(dir, 'daemon.sock'),
      ttrpcAddress: join(dir, 'daemon.sock.ttrpc'),
      publishBinary: '/bin/true',
      paths: {},
      debug: false,
      timeoutMs: 30_000,
    },
    runcRoot: join(dir, 'runc'),
    events: opts.events ?? { taskExit: () => {}, taskDelete: () => {} },
    log: opts.log ?? nullLogger,
  });
  await m.load();
  return m;
}

/** The daemon's ttrpc events endpoint at `<dir>/daemon.sock.ttrpc`: each forwarded topic to `onTopic`. */
export async function listenForwardedEvents(
  dir: string,
  onTopic: (topic: string) => void = () => {},
): Promise<TtrpcServer> {
  const events = new TtrpcServer({ log: nullLogger });
  events.register('containerd.services.events.ttrpc.v1.Events', 'Forward', async (payload) => {
    onTopic(ForwardRequest.decode(payload).envelope?.topic ?? '');
    return Empty.encode({}).finish();
  });
  await events.listen(join(dir, 'daemon.sock.ttrpc'));
  return events;
}

/** A rootfs at `path`: /bin/busybox with `applets` linked to it, and empty /proc, /dev, /sys, /tmp. */
export function busyboxRootfs(path: string, applets: readonly string[]): void {
  mkdirSync(join(path, 'bin'), { recursive: true });
  for (const d of ['proc', 'dev', 'sys', 'tmp']) mkdirSync(join(path, d));
  copyFileSync('/bin/busybox', join(path, 'bin/busybox'));
  for (const a of applets) symlinkSync('busybox', join(path, 'bin', a));
}

/** runc's default spec (`runc spec`), generated in `<dir>/gen`. */
export function runcDefaultSpec(dir: string): Record<string, any> {
  const gen = join(dir, 'gen');
  mkdirSync(gen);
  execFileSync('runc', ['spec', '--bundle', gen]);
  return JSON.parse(readFileSync(join(gen, 'config.json'), 'utf8'));
}

/**
 * Stops what the tests started under `dir` in `namespace`: each manager's
 * tasks killed and deleted, the managers closed, then whatever a failed test
 * left: its shims (by their address, this test's own socket) SIGKILLed and
 * its runc containers force-deleted.
 */
export async function stopShims(
  ctx: OpContext,
  dir: string,
  managers: readonly ShimManager[],
): Promise<void> {
  for (const m of managers) {
    for (const t of m.list(ctx)) {
      const exited = t.wait(ctx).catch(() => undefined);
      await t.kill(ctx, 9, true).catch(() => {});
      await exited;
      await m.delete(ctx, t.id).catch(() => {});
    }
    await m.close();
  }
  const shims = spawnSync(
    'pgrep',
    ['-f', `containerd-shim-runc-v2 .*-address ${join(dir, 'daemon.sock')}`],
    { encoding: 'utf8' },
  );
  for (const pid of shims.stdout.split('\n').filter(Boolean).map(Number)) {
    process.kill(pid, 'SIGKILL');
  }
  const runcRoot = join(dir, 'runc', ctx.namespace ?? '');
  if (ctx.namespace && existsSync(runcRoot)) {
    for (const id of readdirSync(runcRoot)) {
      spawnSync('runc', ['--root', runcRoot, 'delete', '--force', id], { stdio: 'ignore' });
    }
  }
}

/** Unmounts what is left under `<dir>/state` and removes `dir` (a temp directory). */
export function removeShimTestDir(dir: string): void {
  unmountAll(join(dir, 'state'));
  removeTree(dir, tmpdir());
}

/** The memory limit of `pid`'s cgroup (v1 memory controller, or v2 memory.max). */
export function cgroupMemoryLimit(pid: number): number {
  const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n');
  const v1 = lines.find((l) => l.split(':')[1] === 'memory');
  if (v1 !== undefined) {
    const path = v1.split(':').slice(2).join(':');
    return Number(
      readFileSync(join('/sys/fs/cgroup/memory', path, 'memory.limit_in_bytes'), 'utf8'),
    );
  }
  const v2 = lines.find((l) => l.startsWith('0::')) ?? '0::/';
  return Number(readFileSync(join('/sys/fs/cgroup', v2.slice(3), 'memory.max'), 'utf8'));
}
