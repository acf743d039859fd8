/**
 * @module
 * Recovery after a restart (containerd's loadContainer): the store rebuilt from the container records
 * and status files.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ContainerState } from '../../api/k8s/cri/runtime/v1/api.js';
import type { Container as ContainerRecord } from '../../core/containers/index.js';
import { failedPrecondition, isNotFound, notFound } from '../../core/errdefs/index.js';
import type { OpContext } from '../../core/namespaces/index.js';
import type { Exit, Task } from '../../core/tasks/index.js';
import { nowNanos } from '../../core/time/index.js';
import type { ContainerIO } from '../io/index.js';
import { CONTAINERS_DIR } from './constants.js';
import { cleanupOrphans, ignoreNotFound } from './helpers.js';
import * as lifecycle from './lifecycle.js';
import {
  CONTAINER_KIND_CONTAINER,
  CONTAINER_KIND_LABEL,
  CONTAINER_METADATA_EXTENSION,
  decodeMetadata,
} from './metadata.js';
import type { ContainerService } from './service.js';
import {
  type Status,
  StatusStorage,
  stateName,
  stateOf,
  UNKNOWN_EXIT_CODE,
  UNKNOWN_EXIT_REASON,
  unknownStatus,
} from './status.js';
import { CriContainer } from './store.js';

/**
 * Rebuilds the store from the container records and status files after a
 * restart (containerd's loadContainer): running tasks get their IO (the
 * same FIFOs, logging again) and an exit monitor back; tasks that ended
 * meanwhile are recorded as exited with the exit the task manager kept;
 * containers whose task vanished are exited with 255 `Unknown`.
 * Directories of containers without a record are removed.
 */
export async function recover(svc: ContainerService, callCtx: OpContext): Promise<void> {
  const ctx = svc.k8s(callCtx);
  const records = await svc.opts.records.list(ctx, [
    `labels."${CONTAINER_KIND_LABEL}"==${CONTAINER_KIND_CONTAINER}`,
  ]);
  for (const record of records) {
    try {
      const c = await load(svc, ctx, record);
      svc.store.add(c);
      svc.names.reserve(c.metadata.name, c.id);
    } catch (err) {
      ctx.log.error({ err, container: record.id }, 'failed to load container');
    }
  }
  const ids = new Set(records.map((r) => r.id));
  for (const base of [
    join(svc.opts.rootDir, CONTAINERS_DIR),
    join(svc.opts.stateDir, CONTAINERS_DIR),
  ]) {
    await cleanupOrphans(base, ids, ctx.log);
  }
}

export async function load(
  svc: ContainerService,
  ctx: OpContext,
  record: ContainerRecord,
): Promise<CriContainer> {
  const ext = record.extensions[CONTAINER_METADATA_EXTENSION];
  if (!ext) throw notFound(`metadata extension ${JSON.stringify(CONTAINER_METADATA_EXTENSION)}`);
  const meta = decodeMetadata(ext);
  const id = record.id;
  const rootDir = svc.rootDirOf(id);
  const stateDir = svc.stateDirOf(id);
  let status: Status;
  try {
    status = await StatusStorage.load(rootDir);
  } catch (err) {
    ctx.log.warn({ err, container: id }, 'failed to load container status');
    status = unknownStatus();
  }
  let io: ContainerIO | undefined;
  let exited: Promise<Exit> | undefined;
  try {
    let task: Task | undefined;
    try {
      task = svc.opts.tasks.get(ctx, id);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    const st = task && (await task.state(ctx).catch(ignoreNotFound));
    const state = stateOf(status);
    if (!task || !st) {
      if (state === ContainerState.CONTAINER_CREATED) {
        io = await svc.createIO(stateDir, meta.config);
      } else if (state === ContainerState.CONTAINER_RUNNING) {
        status = {
          ...status,
          pid: 0,
          finishedAt: nowNanos(),
          exitCode: UNKNOWN_EXIT_CODE,
          reason: UNKNOWN_EXIT_REASON,
        };
      }
    } else if (st.status === 'created') {
      // A task created but never started: containerd deletes it; the container may start again.
      await lifecycle.deleteTask(svc, ctx, id, true);
      if (state !== ContainerState.CONTAINER_CREATED) {
        throw failedPrecondition(
          `unexpected container state for created task: ${stateName(state)}`,
        );
      }
      io = await svc.createIO(stateDir, meta.config);
    } else if (st.status === 'stopped') {
      await lifecycle.deleteTask(svc, ctx, id, false);
      if (status.finishedAt === 0n) {
        status = {
          ...status,
          pid: 0,
          finishedAt: st.exitedAt || nowNanos(),
          exitCode: st.exitStatus,
        };
      }
    } else {
      if (state === ContainerState.CONTAINER_EXITED) {
        throw failedPrecondition('unexpected container state for running task: CONTAINER_EXITED');
      }
      if (state !== ContainerState.CONTAINER_RUNNING) {
        status = { ...status, startedAt: nowNanos(), pid: st.pid };
      }
      io = await svc.createIO(stateDir, meta.config);
      await io.startLogging(meta.logPath || undefined);
      exited = task.wait(svc.lifeCtx(ctx.log));
      exited.catch(() => {});
    }
  } catch (err) {
    ctx.log.error({ err, container: id }, 'failed to load container status');
    status = { ...status, unknown: true };
  }
  await mkdir(rootDir, { recursive: true });
  const storage = await StatusStorage.create(rootDir, status);
  const c = new CriContainer(meta, storage, io);
  if (stateOf(status) === ContainerState.CONTAINER_EXITED) c.stop();
  if (exited) lifecycle.monitor(svc, c, exited);
  return c;
}
