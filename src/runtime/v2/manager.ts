import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { isNotFound, notFound } from '../../core/errdefs/index.js';
import type { Logger } from '../../core/log/index.js';
import { namespaceRequired, type OpContext } from '../../core/namespaces/index.js';
import {
  type AnyValue,
  anyBuffer,
  type CreateTaskOptions,
  type Exit,
  type Task,
  type TaskManager,
} from '../../core/tasks/index.js';
import {
  BERTH_RUNTIME,
  groupAddress,
  groupOf,
  optionsGroup,
  socketPathOf,
} from '../../shim/group.js';
import { fromTimestamp } from '../../wire/timestamp.js';
import {
  deleteShim,
  resolveShimBinary,
  type ShimBinaryConfig,
  type ShimInvocation,
  startGroupDaemon,
  startShim,
} from './binary.js';
import { BINARY_FILE, Bundle, type BundleRoots, RUNTIME_FILE } from './bundle.js';
import { DeadShims, type RuntimeEvents } from './dead-shim.js';
import { recoverTasks } from './recovery.js';
import { withRuncRoot } from './runc-options.js';
import { fromV1Options, RUNTIME_LINUX_V1, shimRuntime } from './runtime-v1.js';
import { ShimClient } from './shim-client.js';
import { ShimConnections } from './shim-connections.js';
import { openShimLog, type ShimLog } from './shim-log.js';
import { ShimTask, StoppedTask } from './shim-task.js';
import type { SparePool } from './spare-shim.js';
import { type TaskEntry, TaskList, taskKey } from './task-list.js';

export type { RuntimeEvents } from './dead-shim.js';

export interface ShimManagerOptions {
  roots: BundleRoots;
  binary: ShimBinaryConfig;
  events: RuntimeEvents;
  log: Logger;
  /** runc's state root for runc shims (and berth's) whose options name none. */
  runcRoot: string;
  /** The runtime of tasks whose container names none (`default_runtime`). */
  defaultRuntime?: string;
  /** Where berth's group shims listen (tests only; default /run/containerd/s). */
  groupSocketDir?: string;
  /** How long a shim may take to answer Connect when reloading, and Shutdown. */
  callTimeoutMs?: number;
  /** Spare daemons of berth's shim, handed the new groups (`spare_shim`); none: started per group. */
  spares?: SparePool;
}

/**
 * The runtime v2 task manager: a shim per container (or per group), found
 * by runtime name, started with containerd's start protocol, driven over
 * ttrpc. Bundles live under `roots.state/<ns>/<id>`. Shims run in their
 * own process groups and outlive the daemon; {@link load} finds them again.
 *
 * The task table is a {@link TaskList}, the connections a
 * {@link ShimConnections} pool; {@link DeadShims} handles shims that are
 * gone, {@link recoverTasks} the restart. This class is create and delete.
 */
export class ShimManager implements TaskManager {
  private readonly tasks = new TaskList();
  private readonly connections: ShimConnections;
  private readonly deadShims: DeadShims;
  private readonly timeoutMs: number;

  constructor(private readonly opts: ShimManagerOptions) {
    this.timeoutMs = opts.callTimeoutMs ?? 5000;
    this.deadShims = new DeadShims({
      tasks: this.tasks,
      binary: opts.binary,
      events: opts.events,
      log: opts.log,
    });
    this.connections = new ShimConnections({
      log: opts.log,
      timeoutMs: this.timeoutMs,
      onGone: (c) => void this.deadShims.connectionLost(c),
    });
  }

  async create(
    ctx: OpContext,
    id: string,
    opts: CreateTaskOptions,
  ): Promise<{ task: Task; pid: number }> {
    const ns = namespaceRequired(ctx);
    const release = this.tasks.reserve(ns, id);
    try {
      return await this.createTask(ctx, ns, id, opts);
    } finally {
      release();
    }
  }

  /** bundle → log FIFO → `shim start` → connection → Task.Create; a failure undoes each step. */
  private async createTask(
    ctx: OpContext,
    ns: string,
    id: string,
    opts: CreateTaskOptions,
  ): Promise<{ task: Task; pid: number }> {
    const t0 = performance.now();
    const ms: Record<string, number> = {};
    const mark = (step: string) => {
      ms[step] = Math.round((performance.now() - t0) * 10) / 10;
    };
    const runtimeName = opts.runtime || this.opts.defaultRuntime || '';
    const runtime = shimRuntime(runtimeName);
    const options =
      runtimeName === RUNTIME_LINUX_V1
        ? fromV1Options(opts.runtimeOptions, opts.taskOptions)
        : (opts.taskOptions ?? opts.runtimeOptions);
    const binary = resolveShimBinary(runtime, this.opts.binary);
    const bundle = Bundle.create(this.opts.roots, ns, id, opts.spec.value);
    const inv: ShimInvocation = { binary, namespace: ns, id, bundle: bundle.path };
    const log = this.opts.log.child({ namespace: ns, id });
    let shimLog: ShimLog | undefined;
    let started = false;
    let entry: TaskEntry | undefined;
    try {
      bundle.writeFile(RUNTIME_FILE, runtimeName);
      shimLog = openShimLog(bundle.file('log'), log);
      mark('bundle');
      const shimOptions = withRuncRoot(runtime, options, this.opts.runcRoot);
      const groupSocket = this.groupSocket(runtime, ns, id, opts.spec.value, shimOptions);
      let connection = groupSocket ? this.connections.serving(groupSocket) : undefined;
      if (connection) {
        // As `start` answers for a group whose shim is alive, without running it. No await
        // from here until the task joins the connection's set below.
        bundle.writeFile(BINARY_FILE, binary);
        bundle.writeFile('address', connection.address);
        mark('shim reused');
      } else if (groupSocket && this.opts.groupSocketDir === undefined) {
        // berth's shim: a spare daemon takes the group, else its daemon is run here as its
        // `start` would run it, one node start fewer.
        await this.startGroup(inv, groupSocket, log);
        started = true;
        mark('shim');
        bundle.writeFile(BINARY_FILE, binary);
        connection = await this.connections.get(groupSocket);
        mark('connect');
      } else {
        const address = await startShim(this.opts.binary, inv, shimOptions);
        started = true;
        mark('shim');
        bundle.writeFile(BINARY_FILE, binary);
        if (!existsSync(bundle.file('address'))) bundle.writeFile('address', address);
        connection = await this.connections.get(address);
        mark('connect');
      }
      const task = new ShimTask(new ShimClient(connection.conn, ns), bundle, runtimeName);
      entry = { task, log: shimLog, connection };
      connection.tasks.add(taskKey(ns, id));
      const created = await task.shim.create({
        id,
        bundle: bundle.path,
        rootfs: opts.rootfs.map((m) => ({
          type: m.type,
          source: m.source,
          target: m.target ?? '',
          options: m.options,
        })),
        terminal: opts.io.terminal,
        stdin: opts.io.stdin,
        stdout: opts.io.stdout,
        stderr: opts.io.stderr,
        checkpoint: opts.checkpoint ?? '',
        options: anyBuffer(shimOptions),
      });
      this.tasks.set(ns, id, entry);
      mark('create');
      log.debug({ address: connection.address, ms }, 'task created');
      return { task, pid: created.pid };
    } catch (err) {
      await this.abandon(ctx, inv, bundle, entry, shimLog, started);
      throw err;
    }
  }

  /** The group daemon of `socket`: the spare (if one is ready and takes it), else a new one. */
  private async startGroup(inv: ShimInvocation, socket: string, log: Logger): Promise<void> {
    const spare = this.opts.spares?.take(inv.binary);
    if (spare) {
      try {
        await spare.adopt(this.opts.binary, inv, socket);
        return;
      } catch (err) {
        log.warn({ err }, 'spare shim failed to take the group; starting its daemon');
      }
    }
    await startGroupDaemon(this.opts.binary, inv, socket);
  }

  /**
   * The address of the container's group shim, for berth's shim
   * (`io.containerd.berth.v1`; undefined for other runtimes): the daemon
   * skips `shim start` when it already serves tasks of that group over an
   * open connection, which proves the shim alive and keeps it from exiting
   * (a group shim exits only after Shutdown with no container left), and
   * else runs the group's daemon itself. Group and address are those the
   * shim's `start` computes (src/shim/group.ts).
   */
  private groupSocket(
    runtime: string,
    ns: string,
    id: string,
    spec: Uint8Array,
    options: AnyValue | undefined,
  ): string | undefined {
    if (runtime !== BERTH_RUNTIME) return undefined;
    // The shim reads the group default from options of any `*.Options` type (runc's, berth's).
    const byOptions = options?.typeUrl.endsWith('.Options') ? optionsGroup(options.value) : '';
    const group = groupOf(specAnnotations(spec), ns, id, byOptions);
    let address = groupAddress(this.opts.binary.address, ns, group);
    if (this.opts.groupSocketDir !== undefined) {
      address = `unix://${join(this.opts.groupSocketDir, basename(socketPathOf(address)))}`;
    }
    return address;
  }

  /** Undoes a failed create: the shim's task, the shim, the log, the bundle. */
  private async abandon(
    ctx: OpContext,
    inv: ShimInvocation,
    bundle: Bundle,
    entry: TaskEntry | undefined,
    shimLog: ShimLog | undefined,
    started: boolean,
  ): Promise<void> {
    const log = ctx.log.child({ id: inv.id });
    if (entry) {
      entry.deleting = true;
      // Whatever runc made before failing goes with the shim's task.
      await (entry.task as ShimTask).shim
        .delete({ id: inv.id })
        .catch((err) => log.debug({ err }, 'shim task delete after failed create'));
      // A shim that died meanwhile leaves what it made (runc state, its socket) to `shim delete`.
      const died = entry.connection?.conn.isClosed ?? false;
      await this.teardown(entry).catch((err) => log.warn({ err }, 'cleanup of failed create'));
      if (died) await this.deadShims.cleanUp(bundle, (entry.task as ShimTask).runtime);
    } else if (started) {
      await deleteShim(this.opts.binary, inv).catch((err) =>
        log.warn({ err }, 'shim delete after failed create'),
      );
    }
    shimLog?.close();
    try {
      bundle.delete();
    } catch (err) {
      log.warn({ err }, 'removing bundle after failed create');
    }
  }

  get(ctx: OpContext, id: string): Task {
    const e = this.tasks.get(namespaceRequired(ctx), id);
    if (!e) throw notFound(`no running task found: task ${id}`);
    return e.task;
  }

  list(ctx: OpContext): Task[] {
    return this.tasks.list(namespaceRequired(ctx));
  }

  async delete(ctx: OpContext, id: string): Promise<Exit> {
    const ns = namespaceRequired(ctx);
    const e = this.tasks.get(ns, id);
    if (!e || e.deleting) throw notFound(`no running task found: task ${id}`);
    if (e.task instanceof StoppedTask) {
      e.deleting = true;
      try {
        e.task.bundle.delete();
      } finally {
        this.tasks.delete(ns, id);
      }
      const exit = e.task.exit;
      this.opts.events.taskDelete(ns, { containerId: id, ...exit });
      return exit;
    }
    const task = e.task as ShimTask;
    let exit: Exit | undefined;
    try {
      const r = await task.shim.delete({ id });
      exit = { pid: r.pid, status: r.exitStatus, exitedAt: fromTimestamp(r.exitedAt) };
    } catch (err) {
      // A shim that lost the task (or died meanwhile) is cleaned up anyway.
      if (!isNotFound(err) && !(e.connection?.conn.isClosed ?? false)) throw err;
    }
    e.deleting = true;
    task.deleted = exit ?? null;
    await this.teardown(e);
    this.tasks.delete(ns, id);
    try {
      task.bundle.delete();
    } catch (err) {
      ctx.log.warn({ err, id }, 'removing bundle');
    }
    if (!exit) throw notFound(`task ${id}: the shim no longer knows it`);
    return exit;
  }

  /** Drops the daemon's side of a live task: its connection (the shim may exit) and its log. */
  private async teardown(e: TaskEntry): Promise<void> {
    if (e.connection && e.task instanceof ShimTask) {
      await this.connections.detach(e.connection, e.task);
    }
    e.log?.close();
  }

  /** Finds the tasks of the daemon's previous run again ({@link recoverTasks}). */
  async load(): Promise<void> {
    await recoverTasks({
      roots: this.opts.roots,
      tasks: this.tasks,
      connections: this.connections,
      deadShims: this.deadShims,
      log: this.opts.log,
      timeoutMs: this.timeoutMs,
    });
  }

  /** Drops the connections; the shims and their tasks keep running. */
  async close(): Promise<void> {
    this.opts.spares?.close();
    for (const e of this.tasks.all()) e.log?.close();
    this.connections.close();
  }
}

/** The annotations of a container's spec (already checked to be JSON by Bundle.create). */
function specAnnotations(spec: Uint8Array): Record<string, string> | undefined {
  try {
    const parsed = JSON.parse(Buffer.from(spec).toString('utf8')) as {
      annotations?: Record<string, string>;
    };
    return parsed.annotations;
  } catch {
    return undefined;
  }
}
