/**
 * @module
 * Recovery after a restart (containerd's loadSandbox): the store rebuilt from the sandbox records,
 * pause tasks monitored again, orphaned directories and netns removed.
 */
import { join } from 'node:path';
import type { Container } from '../../core/containers/index.js';
import { isNotFound } from '../../core/errdefs/index.js';
import type { OpContext } from '../../core/namespaces/index.js';
import type { Task } from '../../core/tasks/index.js';
import { removeNetns } from '../../sys/netns.js';
import { removeTree } from '../../sys/remove-tree.js';
import { hostIpc, unmountShm } from './files.js';
import type { SandboxManager } from './manager.js';
import {
  decodeSandboxMetadata,
  KIND_LABEL,
  KIND_SANDBOX,
  SANDBOX_METADATA_EXTENSION,
} from './metadata.js';
import { POD_IF_NAME } from './network.js';
import * as running from './run.js';
import { Sandbox, type SandboxMetadata } from './sandbox.js';
import { ignoreNotFound, listDir } from './util.js';

/**
 * Rebuilds the sandboxes from the k8s.io records of kind sandbox (after a
 * restart, or kill -9): the task manager has reconnected their shims; a
 * running pause is READY again and watched, any other is NOTREADY.
 */
export async function recover(mgr: SandboxManager): Promise<void> {
  const ctx = mgr.bg;
  const records = await mgr.opts.containers.list(ctx);
  for (const rec of records) {
    if (rec.labels[KIND_LABEL] !== KIND_SANDBOX) continue;
    const ext = rec.extensions[SANDBOX_METADATA_EXTENSION];
    if (ext === undefined) continue;
    try {
      await recoverOne(mgr, ctx, rec, decodeSandboxMetadata(ext));
    } catch (err) {
      mgr.opts.log.warn({ err, sandbox: rec.id }, 'failed to recover sandbox');
    }
  }
  await removeOrphans(mgr, ctx).catch((err) =>
    mgr.opts.log.warn({ err }, 'failed to clean up after an interrupted RunPodSandbox'),
  );
}

/**
 * What a RunPodSandbox interrupted by a crash (before its record
 * existed) left: sandbox dirs without a record (their shm unmounted, the
 * pod network DELeted from the CNI cache), network namespaces no sandbox
 * names, and the snapshot's lease.
 */
async function removeOrphans(mgr: SandboxManager, ctx: OpContext): Promise<void> {
  const known = new Set(mgr.store.list().map((sb) => sb.id));
  const root = join(mgr.opts.rootDir, 'sandboxes');
  const state = join(mgr.opts.stateDir, 'sandboxes');
  const ids = new Set([...listDir(root), ...listDir(state)].filter((id) => !known.has(id)));
  for (const id of ids) {
    mgr.opts.log.info({ sandbox: id }, 'removing what an interrupted RunPodSandbox left');
    unmountShm(join(state, id, 'shm'));
    await mgr.opts.network
      ?.remove({ id, netnsPath: '', ifName: POD_IF_NAME, args: {}, portMappings: [] })
      .catch((err) => mgr.opts.log.warn({ err, sandbox: id }, 'CNI DEL of an orphan sandbox'));
    await ignoreNotFound(mgr.opts.leases.delete(ctx, `cri-sandbox-${id}`)).catch(() => {});
    removeTree(join(root, id), mgr.opts.rootDir);
    removeTree(join(state, id), mgr.opts.stateDir);
  }
  const inUse = new Set(mgr.store.list().map((sb) => sb.metadata.netnsPath));
  for (const name of listDir(mgr.netnsDir)) {
    const path = join(mgr.netnsDir, name);
    if (!inUse.has(path)) await removeNetns(path, mgr.netnsDir);
  }
}

async function recoverOne(
  mgr: SandboxManager,
  ctx: OpContext,
  rec: Container,
  md: SandboxMetadata,
): Promise<void> {
  const shmPath = hostIpc(md.config) ? undefined : join(mgr.sandboxStateDir(md.id), 'shm');
  const sb = new Sandbox(
    md,
    { state: 'notready', pid: 0, createdAt: rec.createdAt },
    mgr.sandboxDir(md.id),
    mgr.sandboxStateDir(md.id),
    shmPath,
  );
  let task: Task | undefined;
  try {
    task = mgr.opts.tasks.get(ctx, md.id);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  if (task !== undefined) {
    const st = await task.state(ctx).catch(() => undefined);
    if (st !== undefined && (st.status === 'running' || st.status === 'paused')) {
      sb.status = { ...sb.status, state: 'ready', pid: st.pid };
    } else {
      // Exited (or never started) while berthd was away: as the exit handler would.
      await ignoreNotFound(mgr.opts.tasks.delete(ctx, md.id)).catch(() => {});
      task = undefined;
    }
  }
  mgr.names.reserve(md.name, md.id);
  mgr.store.add(sb);
  if (task !== undefined) running.monitor(mgr, sb, task);
}
