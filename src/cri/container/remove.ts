import { ContainerState, type RemoveContainerRequest } from '../../api/k8s/cri/runtime/v1/api.js';
import type { Container as ContainerRecord } from '../../core/containers/index.js';
import { failedPrecondition, isNotFound } from '../../core/errdefs/index.js';
import type { OpContext } from '../../core/namespaces/index.js';
import { ignoreNotFound, withMessage } from './helpers.js';
import * as lifecycle from './lifecycle.js';
import type { ContainerService } from './service.js';
import { stateOf } from './status.js';
import type { CriContainer } from './store.js';

/** RemoveContainer: idempotent; a running container is killed first. */
export async function removeContainer(
  svc: ContainerService,
  callCtx: OpContext,
  req: RemoveContainerRequest,
): Promise<object> {
  const ctx = svc.k8s(callCtx);
  let c: CriContainer;
  try {
    c = svc.store.get(req.containerId);
  } catch (err) {
    if (isNotFound(err)) return {};
    throw err;
  }
  await remove(svc, ctx, c);
  return {};
}

/** Removes a container (killing it first if it runs): task, record, snapshot, FIFOs, status, dirs. */
export async function remove(
  svc: ContainerService,
  ctx: OpContext,
  c: CriContainer,
): Promise<void> {
  const id = c.id;
  let record: ContainerRecord;
  try {
    record = await svc.opts.records.get(ctx, id);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    ctx.log.warn({ container: id }, 'container record gone; forgetting the container');
    await c.io?.close().catch(() => {});
    forget(svc, id);
    return;
  }
  const state = stateOf(c.status.get());
  if (state === ContainerState.CONTAINER_RUNNING || state === ContainerState.CONTAINER_UNKNOWN) {
    ctx.log.info({ container: id }, 'forcibly stopping container');
    await lifecycle.stop(svc, ctx, c, 0);
  }
  c.status.update((s) => {
    const st = stateOf(s);
    if (st === ContainerState.CONTAINER_RUNNING) {
      throw failedPrecondition(`container ${JSON.stringify(id)} is still running, to stop first`);
    }
    if (st === ContainerState.CONTAINER_UNKNOWN) {
      throw failedPrecondition(`container ${JSON.stringify(id)} state is unknown, to stop first`);
    }
    if (s.starting) {
      throw failedPrecondition(
        `container ${JSON.stringify(id)} is in starting state, can't be removed`,
      );
    }
    if (s.removing) {
      throw failedPrecondition(`container ${JSON.stringify(id)} is already in removing state`);
    }
    return { ...s, removing: true };
  });
  try {
    await lifecycle.deleteTask(svc, ctx, id, true);
    await svc.opts.records.delete(ctx, id).catch(ignoreNotFound);
    if (record.snapshotKey !== '') {
      await svc
        .snapshotter(record.snapshotter)
        .remove(ctx, record.snapshotKey)
        .catch(ignoreNotFound);
    }
    await c.io?.close();
    c.io = undefined;
    await c.status.delete();
    svc.removeDirsOf(id);
  } catch (err) {
    c.status.update((s) => ({ ...s, removing: false }));
    throw withMessage(err, `failed to remove container ${JSON.stringify(id)}`);
  }
  forget(svc, id);
}

function forget(svc: ContainerService, id: string): void {
  svc.store.delete(id);
  svc.names.releaseByKey(id);
  svc.opts.stats?.forget(id);
}

/** Stops every container of a pod (StopPodSandbox): SIGKILL at once, as containerd does. */
export async function stopAll(
  svc: ContainerService,
  ctx: OpContext,
  sandboxId: string,
): Promise<void> {
  const k = svc.k8s(ctx);
  const list = svc.store.list().filter((c) => c.sandboxId === sandboxId);
  await Promise.all(list.map((c) => lifecycle.stop(svc, k, c, 0)));
}

/** Removes every container of a pod (RemovePodSandbox). */
export async function removeAll(
  svc: ContainerService,
  ctx: OpContext,
  sandboxId: string,
): Promise<void> {
  const k = svc.k8s(ctx);
  for (const c of svc.store.list().filter((c) => c.sandboxId === sandboxId)) {
    await remove(svc, k, c);
  }
}
