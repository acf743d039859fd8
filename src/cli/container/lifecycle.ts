import { isNotFound } from '../../client/errors.js';
import { type Client, Container, type Creator, type Task } from '../../client/index.js';
import type { Container as ContainerRecord } from '../../core/containers/index.js';
import type { CliContext } from '../context.js';
import { CliError, ExitCode, errorLine } from '../errors.js';
import { Labels, RestartLabels } from '../labels.js';
import { containerName } from '../lookup.js';
import { DEFAULT_STOP_TIMEOUT, StopLabels } from './labels.js';
import { hasRestartPolicy } from './restart-policy.js';
import { containerStateDir, removeStateDir } from './state-dir.js';

/**
 * A failure to create or start a container's task as docker reports it:
 * 127 when the command is not found, 126 when it cannot be invoked
 * (permission denied, exec format error), else 125; one line naming the
 * container.
 */
export function startError(err: unknown, name: string): CliError {
  const msg = errorLine(err);
  let code: number = ExitCode.failure;
  if (
    /executable file not found/.test(msg) ||
    (/exec\b/.test(msg) && /no such file or directory/.test(msg))
  ) {
    code = ExitCode.notFound;
  } else if (/exec\b/.test(msg) && /permission denied|exec format error/.test(msg)) {
    code = ExitCode.cannotInvoke;
  }
  return new CliError(`cannot start container ${name}: ${msg}`, code, { cause: err });
}

/** The task IO of a detached container: the shim runs berth-logger on its stdout and stderr. */
export function loggerIO(uri: string, terminal: boolean): Creator {
  return async () => ({
    config: { stdin: '', stdout: uri, stderr: uri, terminal },
    stdinEnded: new Promise<void>(() => {}),
    cancel() {},
    async wait() {},
    async close() {},
    async closeStdin() {},
  });
}

/** The container's task, or undefined when it has none. */
export async function currentTask(container: Container): Promise<Task | undefined> {
  try {
    return await container.task();
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** Resolves true when `p` settles within `ms`, false otherwise. */
async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const done = await Promise.race([
    p.then(
      () => true,
      () => true,
    ),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    }),
  ]);
  clearTimeout(timer);
  return done;
}

/**
 * Deletes a task that is not running (a task created but never started is
 * killed first). A task already gone (berthd's auto-remove) is fine.
 */
export async function deleteTask(task: Task): Promise<void> {
  try {
    const st = await task.status();
    if (st.status === 'created') {
      const exited = task.wait();
      exited.catch(() => undefined);
      await task.kill('SIGKILL');
      await within(exited, 5000);
    }
    await task.delete();
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

/**
 * Kills the task with `signal`; after `timeoutSec` without an exit, with
 * SIGKILL; waits for the exit. Leaves the task stopped (not deleted).
 */
async function killAndWait(task: Task, signal: string, timeoutSec: number): Promise<void> {
  const exited = task.wait();
  exited.catch(() => undefined);
  try {
    await task.kill(signal);
  } catch (err) {
    if (isNotFound(err)) return;
    throw err;
  }
  if (await within(exited, Math.max(0, timeoutSec) * 1000)) return;
  try {
    await task.kill('SIGKILL');
  } catch (err) {
    if (isNotFound(err)) return;
    throw err;
  }
  await within(exited, 30_000);
}

/**
 * `docker stop`: marks the record stopped (`containerd.io/restart.status=stopped`,
 * `explicitly-stopped=true`) before anything else, so berthd's restart
 * monitor leaves it be, then sends the stop signal (`--stop-signal` or the
 * image's, else SIGTERM), waits `timeoutSec` (default the container's
 * `--stop-timeout`, else 10) and kills. The task is left stopped: `ps -a`
 * shows its exit code, `rm` deletes it.
 */
export async function stopContainer(
  client: Client,
  record: ContainerRecord,
  timeoutSec?: number,
): Promise<void> {
  const container = new Container(client, record.id);
  await markStopped(container);
  const task = await currentTask(container);
  if (task === undefined) return;
  const st = await task.status().catch((err) => {
    if (isNotFound(err)) return undefined;
    throw err;
  });
  if (st === undefined || (st.status !== 'running' && st.status !== 'paused')) return;
  const signal = record.labels[StopLabels.signal] || 'SIGTERM';
  const labelled = Number(record.labels[StopLabels.timeout]);
  const timeout =
    timeoutSec ??
    (record.labels[StopLabels.timeout] !== undefined && Number.isInteger(labelled)
      ? labelled
      : DEFAULT_STOP_TIMEOUT);
  if (st.status === 'paused') {
    // A paused process takes no signal: resumed after the signal is queued, as docker does.
    const exited = task.wait();
    exited.catch(() => undefined);
    await task.kill(signal);
    await task.resume().catch(() => undefined);
    if (await within(exited, timeout * 1000)) return;
    await task.kill('SIGKILL');
    await within(exited, 30_000);
    return;
  }
  await killAndWait(task, signal, timeout);
}

/** Tells berthd's restart monitor the user stopped the container. */
async function markStopped(container: Container): Promise<void> {
  try {
    await container.setLabels({
      [RestartLabels.status]: 'stopped',
      [RestartLabels.explicitlyStopped]: 'true',
    });
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

/**
 * `docker start` of a created or stopped container, detached: its stopped
 * task is deleted, the restart monitor told to keep it running again (when
 * it has a policy), and a new task started with its output going to
 * berth-logger (`containerd.io/restart.loguri`). A running container is
 * left as it is.
 */
export async function startDetached(client: Client, record: ContainerRecord): Promise<void> {
  const container = new Container(client, record.id);
  const name = containerName(record);
  if (!(await prepareStart(container, record))) return;
  const spec = (await container.spec()) as { process?: { terminal?: boolean } };
  const uri = record.labels[RestartLabels.logURI];
  if (uri === undefined || uri === '') {
    throw new CliError(
      `cannot start container ${name}: it has no log URI (label ${RestartLabels.logURI}); was it made by berth?`,
    );
  }
  let task: Task;
  try {
    task = await container.newTask(loggerIO(uri, spec.process?.terminal === true));
  } catch (err) {
    throw startError(err, name);
  }
  try {
    await task.start();
  } catch (err) {
    await deleteTask(task).catch(() => undefined);
    throw startError(err, name);
  }
}

/**
 * Before a new task: false when the container already runs; deletes a
 * stopped task; marks the record running for berthd's monitor when it has
 * a restart policy (clearing an explicit stop).
 */
export async function prepareStart(
  container: Container,
  record: ContainerRecord,
): Promise<boolean> {
  const old = await currentTask(container);
  if (old !== undefined) {
    const st = await old.status().catch(() => undefined);
    if (st?.status === 'running' || st?.status === 'paused' || st?.status === 'pausing')
      return false;
    await deleteTask(old);
  }
  if (hasRestartPolicy(record.labels)) {
    await container.setLabels({
      [RestartLabels.status]: 'running',
      [RestartLabels.explicitlyStopped]: '',
    });
  }
  return true;
}

/**
 * `docker rm`: a running container is refused unless `force`, which kills
 * it (marking it stopped first, so berthd's monitor does not start it
 * again); then its task, record, snapshot and state dir are deleted, and
 * its network released in case the postStop hook could not do it.
 */
export async function removeContainer(
  ctx: CliContext,
  client: Client,
  record: Pick<ContainerRecord, 'id' | 'labels'>,
  force: boolean,
  /** The caller deleted the task itself (`run --rm`): no need to look for it. */
  taskDeleted = false,
): Promise<void> {
  const container = new Container(client, record.id);
  const task = taskDeleted ? undefined : await currentTask(container);
  if (task !== undefined) {
    const st = await task.status().catch(() => undefined);
    const live = st?.status === 'running' || st?.status === 'paused' || st?.status === 'pausing';
    if (live && !force) {
      throw new CliError(
        `You cannot remove a running container ${record.id}. Stop the container before attempting removal or force remove`,
      );
    }
    if (live) {
      await markStopped(container);
      if (st?.status === 'paused') await task.resume().catch(() => undefined);
      await killAndWait(task, 'SIGKILL', 30);
    }
    await deleteTask(task);
  }
  try {
    await container.delete({ snapshotCleanup: true });
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  await cleanupHostState(ctx, record);
}

/** What berth keeps on the host for a container, released (network) and removed (state dir). */
export async function cleanupHostState(
  ctx: CliContext,
  record: Pick<ContainerRecord, 'id' | 'labels'>,
): Promise<void> {
  const g = ctx.globals;
  if ((record.labels[Labels.network] ?? 'host') !== 'host') {
    try {
      const { releaseNetwork } = await import('../network/index.js');
      await releaseNetwork(g, g.namespace, record.id);
    } catch (err) {
      ctx.warn(`releasing the network of ${record.id}: ${errorLine(err)}`);
    }
  }
  const dir = record.labels[Labels.stateDir] || containerStateDir(g, record.id);
  try {
    removeStateDir(g, dir);
  } catch (err) {
    ctx.warn(`removing ${dir}: ${errorLine(err)}`);
  }
}

/**
 * `docker kill`: `signal` to the container's main process; refused when it
 * is not running. As docker marks a killed container manually stopped
 * (whatever the signal), the record is marked stopped first: berthd's
 * monitor does not start it again; `start` does.
 */
export async function killContainer(
  client: Client,
  record: ContainerRecord,
  signal: string,
): Promise<void> {
  const container = new Container(client, record.id);
  const task = await currentTask(container);
  const st = await task?.status().catch(() => undefined);
  if (
    task === undefined ||
    st === undefined ||
    (st.status !== 'running' && st.status !== 'paused')
  ) {
    throw new CliError(
      `Cannot kill container: ${containerName(record)}: container ${record.id} is not running`,
    );
  }
  await markStopped(container);
  await task.kill(signal);
}

/**
 * docker's `wait`: the exit code of container `id`'s task once it has
 * stopped. A stopped task answers at once; a created or running one is
 * waited for; with no task yet, the `/tasks/exit` of the init process of
 * the task a later `start` makes. The subscription is made before the task
 * is looked at, so no exit is missed.
 */
export async function waitExit(client: Client, id: string): Promise<number> {
  const ac = new AbortController();
  const events = client.subscribe(
    [`topic=="/tasks/exit",namespace==${JSON.stringify(client.namespace ?? 'default')}`],
    { signal: ac.signal },
  );
  const first = events.next();
  first.catch(() => undefined);
  try {
    const task = await currentTask(await client.loadContainer(id));
    if (task !== undefined) {
      const st = await task.status();
      if (st.status === 'stopped') return st.exitStatus;
      return (await task.wait()).exitCode;
    }
    for (let next = first; ; next = events.next()) {
      const r = await next;
      if (r.done) throw new CliError(`the event stream ended before the task of ${id} exited`);
      const ev = r.value.event as { containerId?: string; id?: string; exitStatus?: number };
      // The init process's exit (an exec's has its own id).
      if (ev?.containerId === id && (ev.id === id || ev.id === '' || ev.id === undefined)) {
        return ev.exitStatus ?? 0;
      }
    }
  } finally {
    ac.abort();
  }
}
