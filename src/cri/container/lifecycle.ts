/**
 * @module
 * StartContainer and StopContainer, and the exit monitor every running container has: when its task
 * exits, the output is drained, the task deleted (its shim goes) and the exit recorded; `/tasks/oom`
 * events mark a container `OOMKilled`.
 */
import { TaskOOM } from '../../api/containerd/events/task.js';
import {
  ContainerState,
  type StartContainerRequest,
  type StopContainerRequest,
} from '../../api/k8s/cri/runtime/v1/api.js';
import { failedPrecondition, isNotFound } from '../../core/errdefs/index.js';
import type { OpContext } from '../../core/namespaces/index.js';
import type { Exit, Task } from '../../core/tasks/index.js';
import { nowNanos } from '../../core/time/index.js';
import { EXIT_RETRY_MS, K8S_NAMESPACE, OUTPUT_DRAIN_MS, SIGKILL } from './constants.js';
import { bounded, ignoreNotFound } from './helpers.js';
import type { ContainerService } from './service.js';
import { parseSignal } from './signal.js';
import {
  OOM_REASON,
  START_ERROR_EXIT_CODE,
  START_ERROR_REASON,
  type Status,
  stateName,
  stateOf,
  UNKNOWN_EXIT_CODE,
} from './status.js';
import type { CriContainer } from './store.js';

/** StartContainer: a failure leaves the container EXITED with `StartError` (128). */
export async function startContainer(
  svc: ContainerService,
  callCtx: OpContext,
  req: StartContainerRequest,
): Promise<object> {
  const ctx = svc.k8s(callCtx);
  const c = svc.container(req.containerId);
  const id = c.id;
  c.status.update((s) => {
    const state = stateOf(s);
    if (state !== ContainerState.CONTAINER_CREATED) {
      throw failedPrecondition(`container ${JSON.stringify(id)} is in ${stateName(state)} state`);
    }
    if (s.removing) {
      throw failedPrecondition(
        `container ${JSON.stringify(id)} is in removing state, can't be started`,
      );
    }
    if (s.starting) {
      throw failedPrecondition(`container ${JSON.stringify(id)} is already in starting state`);
    }
    return { ...s, starting: true };
  });
  let task: Task | undefined;
  try {
    const sandbox = svc.sandbox(c.sandboxId);
    if (sandbox.state !== 'ready') {
      throw failedPrecondition(`sandbox container ${JSON.stringify(sandbox.id)} is not running`);
    }
    const record = await svc.opts.records.get(ctx, id);
    if (!record.spec) throw failedPrecondition(`container ${JSON.stringify(id)} has no spec`);
    const io = c.io;
    if (!io) throw failedPrecondition(`container ${JSON.stringify(id)} has no IO`);
    const rootfs = await svc.snapshotter(record.snapshotter).mounts(ctx, record.snapshotKey);
    // The log opens while the task is created: output waits in the FIFOs until it is read.
    const [logging, creating] = await Promise.allSettled([
      io.startLogging(c.metadata.logPath || undefined),
      svc.opts.tasks.create(ctx, id, {
        spec: record.spec,
        runtime: record.runtime.name,
        ...(record.runtime.options && { runtimeOptions: record.runtime.options }),
        rootfs,
        io: io.io,
      }),
    ]);
    if (creating.status === 'fulfilled') task = creating.value.task;
    if (logging.status === 'rejected') throw logging.reason;
    if (creating.status === 'rejected') throw creating.reason;
    const created = creating.value;
    const exited = created.task.wait(svc.lifeCtx(ctx.log));
    exited.catch(() => {});
    await created.task.start(ctx);
    await c.status.updateSync((s) => ({ ...s, pid: created.pid, startedAt: nowNanos() }));
    monitor(svc, c, exited);
    return {};
  } catch (err) {
    if (task) await deleteTask(svc, svc.detached(ctx), id, true).catch(() => {});
    await c.status
      .updateSync((s) => ({
        ...s,
        pid: 0,
        finishedAt: nowNanos(),
        exitCode: START_ERROR_EXIT_CODE,
        reason: START_ERROR_REASON,
        message: (err as Error).message,
      }))
      .catch((e) => ctx.log.error({ err: e, container: id }, 'recording a start failure'));
    c.stop();
    throw err;
  } finally {
    c.status.update((s) => ({ ...s, starting: false }));
  }
}

export async function stopContainer(
  svc: ContainerService,
  callCtx: OpContext,
  req: StopContainerRequest,
): Promise<object> {
  const c = svc.container(req.containerId);
  await stop(svc, svc.k8s(callCtx), c, Number(req.timeout) * 1000);
  return {};
}

/**
 * Stops a running (or unknown) container: its stop signal, `timeoutMs`
 * to exit, then SIGKILL; answers once the exit is recorded. A container
 * in any other state is left as it is.
 */
export async function stop(
  svc: ContainerService,
  ctx: OpContext,
  c: CriContainer,
  timeoutMs: number,
): Promise<void> {
  const id = c.id;
  const state = stateOf(c.status.get());
  if (state !== ContainerState.CONTAINER_RUNNING && state !== ContainerState.CONTAINER_UNKNOWN) {
    return;
  }
  let task: Task;
  try {
    task = svc.opts.tasks.get(ctx, id);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    if (state === ContainerState.CONTAINER_UNKNOWN) {
      await handleExit(svc, ctx, c, { pid: 0, status: UNKNOWN_EXIT_CODE, exitedAt: nowNanos() });
    }
    return;
  }
  if (state === ContainerState.CONTAINER_UNKNOWN && !c.isStopped) {
    const exited = task.wait(svc.lifeCtx(ctx.log));
    exited.catch(() => {});
    monitor(svc, c, exited);
  }
  if (timeoutMs > 0) {
    const signal = parseSignal(await stopSignalOf(svc, ctx, c));
    if (!c.stopSignaled) {
      c.stopSignaled = true;
      ctx.log.info({ container: id, signal }, 'stopping container');
      await task.kill(ctx, signal, false).catch(ignoreNotFound);
    }
    if (await waitStopped(ctx, c, timeoutMs)) return;
  }
  ctx.log.info({ container: id }, 'killing container');
  c.killSent = true;
  await task.kill(ctx, SIGKILL, false).catch(ignoreNotFound);
  await waitStopped(ctx, c, undefined);
}

async function stopSignalOf(
  svc: ContainerService,
  ctx: OpContext,
  c: CriContainer,
): Promise<string> {
  if (c.metadata.stopSignal !== '') return c.metadata.stopSignal;
  const image = await svc.opts.images.resolve(ctx, c.metadata.imageRef).catch(ignoreNotFound);
  return image?.config.config?.StopSignal || 'SIGTERM';
}

/** True once `c` stopped; false after `timeoutMs`; throws when the call is cancelled. */
function waitStopped(
  ctx: OpContext,
  c: CriContainer,
  timeoutMs: number | undefined,
): Promise<boolean> {
  if (c.isStopped) return Promise.resolve(true);
  return new Promise((resolve, reject) => {
    const finish = (fn: () => void) => {
      clearTimeout(timer);
      ctx.signal.removeEventListener('abort', onAbort);
      fn();
    };
    const timer =
      timeoutMs === undefined
        ? undefined
        : setTimeout(() => finish(() => resolve(false)), timeoutMs);
    const onAbort = () =>
      finish(() => reject(ctx.signal.reason ?? new Error(`wait container ${c.id}: canceled`)));
    if (ctx.signal.aborted) return onAbort();
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    void c.stopped.then(() => finish(() => resolve(true)));
  });
}

/** The exit status of a process killed by SIGKILL (128 + 9), which is how the OOM killer ends one. */
const SIGKILL_EXIT_STATUS = 137;
/** How long an exit by SIGKILL waits for the OOM event that may follow it. */
const OOM_EVENT_GRACE_MS = 200;

/** Starts the `/tasks/oom` subscription; call once the store is recovered. */
export function watchOOM(svc: ContainerService): void {
  const events = svc.opts.events;
  if (!events) return;
  const ctx = svc.lifeCtx(svc.opts.log);
  const run = (async () => {
    try {
      for await (const e of events.subscribe(ctx, [
        `topic=="/tasks/oom",namespace=="${K8S_NAMESPACE}"`,
      ])) {
        const { containerId } = TaskOOM.decode(e.event.value);
        const c = svc.store.find(containerId);
        if (!c || c.id !== containerId) continue;
        svc.opts.log.info({ container: containerId }, 'container OOM');
        await c.status
          .updateSync((s) => ({ ...s, reason: OOM_REASON }))
          .catch((err) => svc.opts.log.error({ err, container: containerId }, 'recording an OOM'));
        c.oomKilled();
      }
    } catch (err) {
      if (!svc.life.signal.aborted) {
        svc.opts.log.error({ err }, 'the OOM event subscription ended');
      }
    }
  })();
  svc.track(run);
}

export function monitor(svc: ContainerService, c: CriContainer, exited: Promise<Exit>): void {
  const run = (async () => {
    let exit: Exit;
    try {
      exit = await exited;
    } catch (err) {
      if (svc.life.signal.aborted) return;
      svc.opts.log.error({ err, container: c.id }, 'waiting for the container task');
      exit = { pid: 0, status: UNKNOWN_EXIT_CODE, exitedAt: nowNanos() };
    }
    const ctx = svc.lifeCtx(svc.opts.log);
    for (let attempt = 0; ; attempt++) {
      try {
        await handleExit(svc, ctx, c, exit);
        return;
      } catch (err) {
        const delay = EXIT_RETRY_MS[attempt];
        svc.opts.log.error({ err, container: c.id }, 'handling the container exit');
        if (delay === undefined || svc.life.signal.aborted) return;
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  })();
  svc.track(run);
}

/** Records an exit: output drained, the task deleted (its shim goes), then EXITED. */
async function handleExit(
  svc: ContainerService,
  ctx: OpContext,
  c: CriContainer,
  exit: Exit,
): Promise<void> {
  if (c.io) await bounded(c.io.wait(), svc.opts.outputDrainMs ?? OUTPUT_DRAIN_MS);
  // The OOM killer's SIGKILL: the shim's /tasks/oom event travels apart from the
  // exit and may come just after it. Wait a moment for it, so that no status is
  // read as exited with reason Error that an instant later says OOMKilled.
  if (exit.status === SIGKILL_EXIT_STATUS && !c.killSent && c.status.get().reason !== OOM_REASON) {
    await bounded(c.oomRecorded, OOM_EVENT_GRACE_MS);
  }
  // A real exit needs no kill (and no state call); an exit made up when waiting failed might.
  await deleteTask(svc, ctx, c.id, exit.pid === 0);
  await c.status.updateSync((s) => {
    const next: Status = { ...s, unknown: false };
    if (s.finishedAt === 0n) {
      next.pid = 0;
      // The shim's exit time can precede the start time taken once Start answered.
      next.finishedAt = exit.exitedAt || nowNanos();
      if (next.finishedAt < s.startedAt) next.finishedAt = s.startedAt;
      next.exitCode = exit.status;
    }
    return next;
  });
  c.stop();
}

/** Deletes the container's task, killing it first when asked; a missing task is fine. */
export async function deleteTask(
  svc: ContainerService,
  ctx: OpContext,
  id: string,
  kill: boolean,
): Promise<void> {
  let task: Task;
  try {
    task = svc.opts.tasks.get(ctx, id);
  } catch (err) {
    if (isNotFound(err)) return;
    throw err;
  }
  if (kill) {
    const st = await task.state(ctx).catch(() => undefined);
    if (st && st.status !== 'stopped') {
      const exited = task.wait(ctx).catch(() => undefined);
      await task.kill(ctx, SIGKILL, true).catch(ignoreNotFound);
      await exited;
    }
  }
  await svc.opts.tasks.delete(ctx, id).catch(ignoreNotFound);
}
