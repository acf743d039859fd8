import type { Container, ContainerStore } from '../core/containers/index.js';
import { AUTO_REMOVE_LABEL, RestartLabels } from '../core/containers/index.js';
import { isNotFound, notFound } from '../core/errdefs/index.js';
import type { AnyPayload, Publisher, Subscriber } from '../core/events/index.js';
import type { Logger } from '../core/log/index.js';
import type { OpContext } from '../core/namespaces/index.js';
import type { Snapshotter } from '../core/snapshots/index.js';
import {
  createTaskFor,
  type ProcessIO,
  type ProcessState,
  type TaskManager,
} from '../core/tasks/index.js';
import { Backoff } from './backoff.js';
import { decide, isTrue, parsePolicy } from './policy.js';

/** What the monitor reads of a `/tasks/exit` event (containerd.events.TaskExit). */
export interface TaskExitEvent {
  containerId: string;
  /** The exited process: the container id for the init process, else an exec id. */
  id: string;
  exitStatus: number;
}

/**
 * The payloads the monitor reads and publishes. restart never imports the
 * API: the daemon passes the wire's codecs.
 */
export interface RestartCodec {
  /** Decodes a `/tasks/exit` payload. */
  decodeTaskExit(event: AnyPayload): TaskExitEvent;
  /** `/containers/update`, as the Containers service publishes it. */
  containerUpdate(container: Container): AnyPayload;
  /** `/containers/delete`. */
  containerDelete(id: string): AnyPayload;
  /** `/snapshot/remove`. */
  snapshotRemove(key: string): AnyPayload;
}

export interface MonitorOptions {
  namespaces: { list(): readonly { name: string }[] };
  containers: ContainerStore;
  /** Namespaced snapshotters by name. */
  snapshotters: ReadonlyMap<string, Snapshotter>;
  tasks: TaskManager;
  /**
   * Exits come from here; what the monitor changes is published here as
   * the services would (containerd's monitor works through them).
   */
  events: Subscriber & Publisher;
  codec: RestartCodec;
  /** The period of the full reconcile (containerd's `interval`, 10 s by default). */
  intervalMs: number;
  log: Logger;
  /** Wall clock in ms (tests pass their own). */
  now?: () => number;
}

/** What the monitor remembers of one container between checks; in memory only. */
interface Tracked {
  backoff: Backoff;
  /** A restart waiting out its backoff delay. */
  timer?: NodeJS.Timeout;
  /** When the monitor last started the container's task (wall ms). */
  startedAt?: number;
  /** The exit status of the task it last saw stopped (used when the task is gone since). */
  lastExitStatus?: number;
  /** The exit the last logged decision was about, so a reconcile logs each exit once. */
  decided?: string;
}

const EXIT_FILTER = 'topic=="/tasks/exit"';
/** How long the monitor waits before subscribing again after its subscription failed. */
const RESUBSCRIBE_MS = 1000;
/** Task states the monitor leaves alone: the task is alive, or a client is between create and start. */
const ALIVE = new Set<ProcessState['status']>(['running', 'created', 'paused', 'pausing']);

/**
 * berthd's restart monitor (containerd's `io.containerd.internal.v1`
 * `restart`): keeps the containers whose `containerd.io/restart.status` is
 * `running` running, by their `containerd.io/restart.policy`
 * ({@link decide}), and removes the containers labelled
 * `berth/auto-remove=true` once their task exits.
 *
 * It acts on every `/tasks/exit` of an init process at once, on a full
 * reconcile of every namespace when it starts (tasks that exited while
 * berthd was down) and every `intervalMs`. Checks of one container run one
 * at a time; a restart waits docker's backoff ({@link Backoff}) and then
 * reads the record again, so a client that set status `stopped` meanwhile
 * is honoured. A restart is containerd's startChange: the count label goes
 * up by one, the stopped task is deleted, and a new task is created from
 * the record (rootfs from its snapshot, spec and runtime from the record,
 * IO from the log URI label) and started.
 *
 * Unlike containerd, a desired status `stopped` never makes the monitor
 * kill a running task: the client that set it stops the task itself, with
 * its own grace period. A task in `created` is left alone too (a client is
 * between create and start). As in containerd, a record with status
 * `running` and no task at all is started, but only once it is 10 s old
 * (containerd would race a `ctr run` between its container and its task
 * and could win it), and the count grows on every
 * restart whatever the policy; nothing but a client resets it.
 */
/** How long a new record without a task is left to the client that made it. */
const NEW_RECORD_GRACE_MS = 10_000;

export class RestartMonitor {
  readonly #opts: MonitorOptions;
  readonly #now: () => number;
  readonly #life = new AbortController();
  readonly #tracked = new Map<string, Tracked>();
  readonly #queues = new Map<string, Promise<void>>();
  readonly #running = new Set<Promise<void>>();
  #interval?: NodeJS.Timeout;

  constructor(opts: MonitorOptions) {
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
  }

  /**
   * Subscribes to exits, reconciles once (after {@link resumeAlways}),
   * then every interval.
   */
  start(): void {
    this.#track(this.#watchExits());
    this.#track(this.resumeAlways().then(() => this.reconcile()));
    this.#interval = setInterval(() => this.#track(this.reconcile()), this.#opts.intervalMs);
    this.#interval.unref();
  }

  /** Stops watching and waits for the checks under way; scheduled restarts are dropped. */
  async close(): Promise<void> {
    this.#life.abort();
    clearInterval(this.#interval);
    for (const t of this.#tracked.values()) clearTimeout(t.timer);
    while (this.#running.size > 0) await Promise.allSettled([...this.#running]);
  }

  /**
   * docker's rule for `always` when the daemon starts: a container the user
   * stopped (status `stopped` and `explicitly-stopped=true`, as `berth
   * stop` and `nerdctl stop` leave it) runs again; `unless-stopped`
   * remembers the stop. Its desired status goes back to `running` and the
   * explicit stop is cleared, so the reconcile that follows starts it. A
   * status `stopped` without `explicitly-stopped` (set through `ctr`) is
   * left as containerd leaves it.
   */
  async resumeAlways(): Promise<void> {
    for (const { name } of this.#opts.namespaces.list()) {
      if (this.#life.signal.aborted) return;
      const ctx = this.#ctx(name);
      try {
        const stopped = await this.#opts.containers.list(ctx, [
          `labels."${RestartLabels.status}"==stopped`,
        ]);
        for (const c of stopped) {
          if (c.labels[RestartLabels.status] !== 'stopped') continue;
          let policy: string;
          try {
            policy = parsePolicy(c.labels[RestartLabels.policy] ?? '').name;
          } catch {
            continue;
          }
          if (policy !== 'always' || !isTrue(c.labels[RestartLabels.explicitlyStopped])) continue;
          const labels: Record<string, string> = { ...c.labels, [RestartLabels.status]: 'running' };
          delete labels[RestartLabels.explicitlyStopped];
          const updated = await this.#opts.containers.update(ctx, { ...c, labels }, [
            `labels.${RestartLabels.status}`,
            `labels.${RestartLabels.explicitlyStopped}`,
          ]);
          await this.#publish(ctx, '/containers/update', this.#opts.codec.containerUpdate(updated));
          this.#opts.log.info(
            { container: c.id, namespace: name, policy },
            'restart monitor: daemon start: running a stopped container of policy always again',
          );
        }
      } catch (err) {
        this.#opts.log.error({ err, namespace: name }, 'restart monitor: resuming always');
      }
    }
  }

  /** Checks every container with a restart status or auto-remove label, in every namespace. */
  async reconcile(): Promise<void> {
    const filters = [`labels."${RestartLabels.status}"`, `labels."${AUTO_REMOVE_LABEL}"==true`];
    for (const { name } of this.#opts.namespaces.list()) {
      if (this.#life.signal.aborted) return;
      let containers: Container[];
      try {
        containers = await this.#opts.containers.list(this.#ctx(name), filters);
      } catch (err) {
        this.#opts.log.error({ err, namespace: name }, 'restart monitor: listing containers');
        continue;
      }
      await Promise.all(containers.map((c) => this.check(name, c.id)));
    }
  }

  /** Checks one container now (after the checks of it already queued). */
  check(namespace: string, id: string): Promise<void> {
    return this.#enqueue(namespace, id, () => this.#check(namespace, id));
  }

  async #watchExits(): Promise<void> {
    const ctx: OpContext = { signal: this.#life.signal, log: this.#opts.log };
    while (!this.#life.signal.aborted) {
      try {
        for await (const e of this.#opts.events.subscribe(ctx, [EXIT_FILTER])) {
          let exit: TaskExitEvent;
          try {
            exit = this.#opts.codec.decodeTaskExit(e.event);
          } catch (err) {
            this.#opts.log.warn(
              { err, namespace: e.namespace },
              'restart monitor: undecodable exit',
            );
            continue;
          }
          // Exits of execs are no concern of the monitor's.
          if (exit.id !== exit.containerId) continue;
          this.#track(this.check(e.namespace, exit.containerId));
        }
      } catch (err) {
        if (this.#life.signal.aborted) return;
        this.#opts.log.error(
          { err },
          'restart monitor: the exit subscription ended; subscribing again',
        );
      }
      if (this.#life.signal.aborted) return;
      // Exits missed meanwhile are caught by the reconcile that follows.
      await sleep(RESUBSCRIBE_MS, this.#life.signal);
      this.#track(this.reconcile());
    }
  }

  async #check(namespace: string, id: string): Promise<void> {
    const key = keyOf(namespace, id);
    const tracked = this.#trackedOf(key);
    if (tracked.timer !== undefined) return; // a restart is already scheduled
    const ctx = this.#ctx(namespace);
    const record = await this.#record(ctx, key);
    if (!record) return;
    const state = await this.#state(ctx, id);
    if (state && ALIVE.has(state.status)) return;
    if (state && state.status !== 'stopped') return; // unknown: a shim being recovered
    // A record without a task that was made moments ago is a client's
    // between its container and its task (`berth run`, `ctr run`): leave it
    // the task, rather than race it to create one.
    if (!state && this.#now() - Number(record.createdAt / 1_000_000n) < NEW_RECORD_GRACE_MS) return;
    if (state) tracked.lastExitStatus = state.exitStatus;
    const exitStatus = state?.exitStatus ?? tracked.lastExitStatus;
    const labels = record.labels;
    const exitKey = state ? `${state.pid}@${state.exitedAt}` : 'no task';

    const status = labels[RestartLabels.status];
    if (status !== undefined) {
      const d =
        status === 'running'
          ? decide(labels, exitStatus)
          : { restart: false, reason: `desired status is ${JSON.stringify(status)}` };
      if (tracked.decided !== exitKey || d.restart) {
        tracked.decided = exitKey;
        this.#logDecision(namespace, id, labels, exitStatus, d.restart, d.reason);
      }
      if (d.restart) {
        const ranMs =
          tracked.startedAt !== undefined && state && state.exitedAt > 0n
            ? Number(state.exitedAt / 1_000_000n) - tracked.startedAt
            : undefined;
        const delay = tracked.backoff.next(ranMs);
        tracked.timer = setTimeout(() => {
          tracked.timer = undefined;
          this.#track(this.#enqueue(namespace, id, () => this.#restart(namespace, id)));
        }, delay);
        return;
      }
    }
    // Only a task that exists and has stopped is removed: a record without
    // a task may be one a client is about to create a task for.
    if (state && labels[AUTO_REMOVE_LABEL] === 'true') await this.#remove(ctx, record, exitStatus);
  }

  /** containerd's startChange, after the backoff: decides again on a fresh read, then starts a new task. */
  async #restart(namespace: string, id: string): Promise<void> {
    const key = keyOf(namespace, id);
    const tracked = this.#trackedOf(key);
    const ctx = this.#ctx(namespace);
    const record = await this.#record(ctx, key);
    if (!record) return;
    const state = await this.#state(ctx, id);
    if (state && state.status !== 'stopped') return; // started (or being started) by someone else
    const labels = record.labels;
    const exitStatus = state?.exitStatus ?? tracked.lastExitStatus;
    const status = labels[RestartLabels.status];
    const d =
      status === 'running'
        ? decide(labels, exitStatus)
        : { restart: false, reason: `desired status is ${JSON.stringify(status ?? '')}` };
    if (!d.restart) {
      this.#logDecision(namespace, id, labels, exitStatus, false, d.reason);
      if (state && labels[AUTO_REMOVE_LABEL] === 'true')
        await this.#remove(ctx, record, exitStatus);
      return;
    }
    const count = Number(labels[RestartLabels.count] ?? '0') + 1;
    const countPath = `labels.${RestartLabels.count}`;
    const updated = await this.#opts.containers.update(
      ctx,
      { ...record, labels: { ...labels, [RestartLabels.count]: String(count) } },
      [countPath],
    );
    await this.#publish(ctx, '/containers/update', this.#opts.codec.containerUpdate(updated));
    if (state) await ignoreNotFound(this.#opts.tasks.delete(ctx, id));
    const io = restartIO(updated);
    const created = await createTaskFor(
      ctx,
      { tasks: this.#opts.tasks, snapshotter: (name) => this.#snapshotter(name) },
      updated,
      io,
    );
    try {
      await created.task.start(ctx);
    } catch (err) {
      await ignoreNotFound(this.#opts.tasks.delete(ctx, id)).catch(() => {});
      throw err;
    }
    tracked.startedAt = this.#now();
    tracked.decided = undefined;
    this.#opts.log.info(
      { container: id, namespace, pid: created.pid, count, logURI: io.stdout || undefined },
      'restart monitor: container restarted',
    );
  }

  /** The task, record and snapshot go, as containerd's container delete with snapshot cleanup (docker's `--rm`). */
  async #remove(ctx: OpContext, record: Container, exitStatus: number | undefined): Promise<void> {
    const namespace = ctx.namespace ?? '';
    await ignoreNotFound(this.#opts.tasks.delete(ctx, record.id));
    if (record.snapshotKey !== '' && record.snapshotter !== '') {
      const key = record.snapshotKey;
      if (await ignoreNotFound(this.#snapshotter(record.snapshotter).remove(ctx, key))) {
        await this.#publish(ctx, '/snapshot/remove', this.#opts.codec.snapshotRemove(key));
      }
    }
    if (await ignoreNotFound(this.#opts.containers.delete(ctx, record.id))) {
      await this.#publish(ctx, '/containers/delete', this.#opts.codec.containerDelete(record.id));
    }
    this.#forget(keyOf(namespace, record.id));
    this.#opts.log.info(
      { container: record.id, namespace, exitCode: exitStatus },
      'restart monitor: auto-removed container',
    );
  }

  /** A change is made whether or not its event gets out: a failure to publish is logged. */
  async #publish(ctx: OpContext, topic: string, event: AnyPayload): Promise<void> {
    try {
      await this.#opts.events.publish(ctx, topic, event);
    } catch (err) {
      this.#opts.log.warn({ err, topic, namespace: ctx.namespace }, 'restart monitor: publishing');
    }
  }

  #logDecision(
    namespace: string,
    id: string,
    labels: Record<string, string>,
    exitCode: number | undefined,
    restart: boolean,
    reason: string,
  ): void {
    this.#opts.log.info(
      {
        container: id,
        namespace,
        exitCode,
        policy: labels[RestartLabels.policy] ?? '',
        count: labels[RestartLabels.count] ?? '0',
        reason,
      },
      restart
        ? 'restart monitor: restarting container'
        : 'restart monitor: not restarting container',
    );
  }

  async #record(ctx: OpContext, key: string): Promise<Container | undefined> {
    const id = key.slice(key.indexOf('/') + 1);
    try {
      return await this.#opts.containers.get(ctx, id);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      this.#forget(key);
      return undefined;
    }
  }

  async #state(ctx: OpContext, id: string): Promise<ProcessState | undefined> {
    try {
      return await this.#opts.tasks.get(ctx, id).state(ctx);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  #snapshotter(name: string): Snapshotter {
    const s = this.#opts.snapshotters.get(name);
    if (!s) throw notFound(`snapshotter ${JSON.stringify(name)}`);
    return s;
  }

  #ctx(namespace: string): OpContext {
    return { namespace, signal: this.#life.signal, log: this.#opts.log };
  }

  #trackedOf(key: string): Tracked {
    let t = this.#tracked.get(key);
    if (!t) {
      t = { backoff: new Backoff() };
      this.#tracked.set(key, t);
    }
    return t;
  }

  #forget(key: string): void {
    clearTimeout(this.#tracked.get(key)?.timer);
    this.#tracked.delete(key);
  }

  /** Runs `fn` after the work queued for this container; failures are logged, never thrown. */
  #enqueue(namespace: string, id: string, fn: () => Promise<void>): Promise<void> {
    const key = keyOf(namespace, id);
    const next = (this.#queues.get(key) ?? Promise.resolve())
      .then(() => (this.#life.signal.aborted ? undefined : fn()))
      .catch((err) => {
        if (this.#life.signal.aborted) return;
        this.#opts.log.error({ err, container: id, namespace }, 'restart monitor: check failed');
      })
      .finally(() => {
        if (this.#queues.get(key) === next) this.#queues.delete(key);
      });
    this.#queues.set(key, next);
    return next;
  }

  #track(p: Promise<void>): void {
    const tracked = p.catch((err) => this.#opts.log.error({ err }, 'restart monitor'));
    this.#running.add(tracked);
    void tracked.finally(() => this.#running.delete(tracked));
  }
}

/**
 * The IO of a restarted task: stdout and stderr to the log URI label, else
 * to `file://<logpath>` (containerd 1.6/1.7's older label), else none
 * (containerd's NullIO). A terminal follows the spec's process.terminal.
 */
export function restartIO(container: Pick<Container, 'labels' | 'spec'>): ProcessIO {
  const uri = container.labels[RestartLabels.logURI];
  const path = container.labels[RestartLabels.logPath];
  const log = uri ? uri : path ? `file://${path}` : '';
  return { stdin: '', stdout: log, stderr: log, terminal: specTerminal(container.spec?.value) };
}

function specTerminal(value: Uint8Array | undefined): boolean {
  if (!value) return false;
  try {
    const spec = JSON.parse(new TextDecoder().decode(value)) as {
      process?: { terminal?: unknown };
    };
    return spec.process?.terminal === true;
  } catch {
    return false;
  }
}

const keyOf = (namespace: string, id: string): string => `${namespace}/${id}`;

/** False when `p` failed `not_found` (someone else got there first). */
async function ignoreNotFound(p: Promise<unknown>): Promise<boolean> {
  try {
    await p;
    return true;
  } catch (err) {
    if (!isNotFound(err)) throw err;
    return false;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });
}
