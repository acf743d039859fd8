/**
 * @module
 * StopPodSandbox and RemovePodSandbox: the pod's containers, the pause task, the network and the
 * netns, then the record, the snapshot and the directories.
 */
import { existsSync } from 'node:fs';
import { isNotFound, newError } from '../../core/errdefs/index.js';
import type { OpContext } from '../../core/namespaces/index.js';
import type { Task } from '../../core/tasks/index.js';
import { removeNetns } from '../../sys/netns.js';
import { removeTree } from '../../sys/remove-tree.js';
import { SIGKILL, STOP_WAIT_MS } from './constants.js';
import { unmountShm } from './files.js';
import type { SandboxManager } from './manager.js';
import { podNetworkRequest } from './network.js';
import type { Sandbox } from './sandbox.js';
import { delay, ignoreNotFound, withContext } from './util.js';

/** StopPodSandbox; idempotent. */
export async function stop(mgr: SandboxManager, ctx: OpContext, idOrPrefix: string): Promise<void> {
  const sb = mgr.store.sandbox(idOrPrefix);
  await mgr.locked(sb.id, () => stopSandbox(mgr, ctx, sb));
}

/**
 * containerd's stopPodSandbox: the pod's containers first, then the
 * pause (SIGKILL) and the pod network, then the netns. The pause and the
 * network go at once: the netns is pinned, so CNI DEL does not need the
 * pause gone, and neither waits for the other. A network torn down once
 * is not torn down again by a later stop or remove while berthd runs.
 */
async function stopSandbox(mgr: SandboxManager, ctx: OpContext, sb: Sandbox): Promise<void> {
  const { opts } = mgr;
  const t0 = performance.now();
  const steps: Record<string, number> = {};
  const mark = (step: string) => {
    steps[step] = Math.round(performance.now() - t0);
  };
  await mgr.podContainers?.stopAll(ctx, sb.id);
  mark('containers');
  if (sb.shmPath !== undefined) unmountShm(sb.shmPath);
  const results = await Promise.allSettled([
    stopPause(mgr, ctx, sb).then(() => mark('pause')),
    teardownNetwork(mgr, sb).then(() => mark('network')),
  ]);
  for (const r of results) if (r.status === 'rejected') throw r.reason;
  opts.log.debug({ sandbox: sb.id, ms: steps }, 'pod sandbox stopped');
}

async function stopPause(mgr: SandboxManager, ctx: OpContext, sb: Sandbox): Promise<void> {
  if (sb.status.state === 'notready') return;
  let task: Task | undefined;
  try {
    task = mgr.opts.tasks.get(ctx, sb.id);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  if (task !== undefined) {
    await ignoreNotFound(task.kill(ctx, SIGKILL, true)).catch((err: Error) => {
      throw withContext(err, `failed to kill sandbox container ${JSON.stringify(sb.id)}`);
    });
    const exited = await Promise.race([
      ignoreNotFound(task.wait(ctx)).then(() => true),
      delay(STOP_WAIT_MS).then(() => false),
    ]);
    if (!exited) {
      throw newError(
        'deadline_exceeded',
        `sandbox ${sb.id}: the pause process did not exit ${STOP_WAIT_MS / 1000} s after SIGKILL`,
      );
    }
    await ignoreNotFound(mgr.opts.tasks.delete(ctx, sb.id));
  }
  sb.status = { ...sb.status, state: 'notready', pid: 0 };
}

async function teardownNetwork(mgr: SandboxManager, sb: Sandbox): Promise<void> {
  const { network } = mgr.opts;
  const netnsPath = sb.metadata.netnsPath;
  if (netnsPath === '' || network === undefined || sb.networkDown) return;
  // A namespace removed by an earlier stop is passed as '' (the CNI spec's "gone").
  const req = podNetworkRequest(sb.id, existsSync(netnsPath) ? netnsPath : '', sb.metadata.config);
  await network.remove(req).catch((err: Error) => {
    throw withContext(err, `failed to destroy network for sandbox ${JSON.stringify(sb.id)}`);
  });
  await removeNetns(netnsPath, mgr.netnsDir);
  sb.networkDown = true;
}

export async function killAndDelete(mgr: SandboxManager, task: Task): Promise<void> {
  await ignoreNotFound(task.kill(mgr.bg, SIGKILL, true));
  // The exit monitor may delete the task first: gone counts as exited.
  await Promise.race([ignoreNotFound(task.wait(mgr.bg)), delay(STOP_WAIT_MS)]);
  await ignoreNotFound(mgr.opts.tasks.delete(mgr.bg, task.id));
}

/** RemovePodSandbox: stops the pod first; a missing id is not an error. */
export async function remove(
  mgr: SandboxManager,
  ctx: OpContext,
  idOrPrefix: string,
): Promise<void> {
  let sb: Sandbox;
  try {
    sb = mgr.store.sandbox(idOrPrefix);
  } catch (err) {
    if (isNotFound(err)) return;
    throw err;
  }
  await mgr.locked(sb.id, async () => {
    if (!mgr.store.list().includes(sb)) return;
    await stopSandbox(mgr, ctx, sb).catch((err: Error) => {
      throw withContext(err, `failed to forcibly stop sandbox ${JSON.stringify(sb.id)}`);
    });
    await mgr.podContainers?.removeAll(ctx, sb.id);
    removeTree(sb.dir, mgr.opts.rootDir);
    removeTree(sb.stateDir, mgr.opts.stateDir);
    await ignoreNotFound(mgr.opts.containers.delete(ctx, sb.id));
    await ignoreNotFound(mgr.opts.snapshotter.remove(ctx, sb.id));
    mgr.store.delete(sb.id);
    mgr.names.releaseByKey(sb.id);
    mgr.podSamples.delete(sb.id);
  });
}
