import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { alreadyExists, isNotFound, notFound } from '../../core/errdefs/index.js';
import type { Logger } from '../../core/log/index.js';
import { namespaceRequired, type OpContext } from '../../core/namespaces/index.js';
import {
  anyBuffer,
  type CreateTaskOptions,
  type Exit,
  type Task,
  type TaskManager,
} from '../../core/tasks/index.js';
import { nowNanos } from '../../core/time/index.js';
import { removeTree } from '../../sys/remove-tree.js';
import { claimSocketPath } from '../../sys/socket.js';
import { socketPath, TtrpcClient } from '../../ttrpc/index.js';
import { fromTimestamp } from '../../wire/timestamp.js';
import {
  deleteShim,
  resolveShimBinary,
  type ShimBinaryConfig,
  type ShimInvocation,
  startShim,
} from './binary.js';
import { Bundle, type BundleRoots, removeHidden } from './bundle.js';
import { withRuncRoot } from './runc-options.js';
import { ShimClient } from './shim-client.js';
import { openShimLog, type ShimLog } from './shim-log.js';
import { ShimTask, StoppedTask } from './shim-task.js';

/** Files berth keeps in a bundle beside the shim's own. */
const RUNTIME_FILE = 'runtime-name';
const BINARY_FILE = 'shim-binary-path';
const EXIT_FILE = 'exit';

/** What the manager publishes itself: the exits of shims that died. Shims publish the rest. */
export interface RuntimeEvents {
  taskExit(namespace: string, e: { containerId: string; id: string } & Exit): void;
  taskDelete(namespace: string, e: { containerId: string } & Exit): void;
}

export interface ShimManagerOptions {
  roots: BundleRoots;
  binary: ShimBinaryConfig;
  events: RuntimeEvents;
  log: Logger;
  /** runc's state root for runc shims whose options name none. */
  runcRoot: string;
  /** How long a shim may take to answer Connect when reloading, and Shutdown. */
  callTimeoutMs?: number;
}

/** One ttrpc connection to a shim; grouped containers share it. */
interface ShimConnection {
  address: string;
  conn: TtrpcClient;
  /** Keys (`ns/id`) of the live tasks served over it. */
  tasks: Set<string>;
}

interface Entry {
  task: Task;
  log?: ShimLog;
  connection?: ShimConnection;
  /** Set while the daemon itself tears the task down: a closing connection is expected then. */
  deleting?: boolean;
}

const key = (ns: string, id: string) => `${ns}/${id}`;

/**
 * The runtime v2 task manager: a shim per container (or per group), found
 * by runtime name, started with containerd's start protocol, driven over
 * ttrpc. Bundles live under `roots.state/<ns>/<id>`. Shims run in their
 * own process groups and outlive the daemon; {@link load} finds them again.
 */
export class ShimManager implements TaskManager {
  private readonly entries = new Map<string, Entry>();
  private readonly creating = new Set<string>();
  private readonly connections = new Map<string, ShimConnection>();
  private readonly timeoutMs: number;
  private closing = false;

  constructor(private readonly opts: ShimManagerOptions) {
    this.timeoutMs = opts.callTimeoutMs ?? 5000;
  }

  async create(
    ctx: OpContext,
    id: string,
    opts: CreateTaskOptions,
  ): Promise<{ task: Task; pid: number }> {
    const ns = namespaceRequired(ctx);
    const k = key(ns, id);
    if (this.entries.has(k) || this.creating.has(k)) {
      throw alreadyExists(`task ${id}`);
    }
    this.creating.add(k);
    try {
      return await this.createTask(ctx, ns, id, opts);
    } finally {
      this.creating.delete(k);
    }
  }

  private async createTask(
    ctx: OpContext,
    ns: string,
    id: string,
    opts: CreateTaskOptions,
  ): Promise<{ task: Task; pid: number }> {
    const binary = resolveShimBinary(opts.runtime, this.opts.binary);
    const bundle = Bundle.create(this.opts.roots, ns, id, opts.spec.value);
    const inv: ShimInvocation = { binary, namespace: ns, id, bundle: bundle.path };
    const log = this.shimLogger(ns, id);
    let shimLog: ShimLog | undefined;
    let started = false;
    let entry: Entry | undefined;
    try {
      bundle.writeFile(RUNTIME_FILE, opts.runtime);
      shimLog = openShimLog(bundle.file('log'), log);
      const shimOptions = withRuncRoot(
        opts.runtime,
        opts.taskOptions ?? opts.runtimeOptions,
        this.opts.runcRoot,
      );
      const address = await startShim(this.opts.binary, inv, shimOptions);
      started = true;
      bundle.writeFile(BINARY_FILE, binary);
      if (!existsSync(bundle.file('address'))) bundle.writeFile('address', address);
      const connection = await this.connection(address);
      const task = new ShimTask(new ShimClient(connection.conn, ns), bundle, opts.runtime);
      entry = { task, log: shimLog, connection };
      connection.tasks.add(key(ns, id));
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
      this.entries.set(key(ns, id), entry);
      log.debug({ address }, 'task created');
      return { task, pid: created.pid };
    } catch (err) {
      await this.abandon(ctx, inv, bundle, entry, shimLog, started);
      throw err;
    }
  }

  /** Undoes a failed create: the shim's task, the shim, the log, the bundle. */
  private async abandon(
    ctx: OpContext,
    inv: ShimInvocation,
    bundle: Bundle,
    entry: Entry | undefined,
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
      await this.teardown(entry).catch((err) => log.warn({ err }, 'cleanup of failed create'));
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
    const e = this.entries.get(key(namespaceRequired(ctx), id));
    if (!e) throw notFound(`no running task found: task ${id}`);
    return e.task;
  }

  list(ctx: OpContext): Task[] {
    const prefix = `${namespaceRequired(ctx)}/`;
    return [...this.entries]
      .filter(([k, e]) => k.startsWith(prefix) && !e.deleting)
      .map(([, e]) => e.task);
  }

  async delete(ctx: OpContext, id: string): Promise<Exit> {
    const ns = namespaceRequired(ctx);
    const k = key(ns, id);
    const e = this.entries.get(k);
    if (!e || e.deleting) throw notFound(`no running task found: task ${id}`);
    if (e.task instanceof StoppedTask) {
      e.deleting = true;
      try {
        e.task.bundle.delete();
      } finally {
        this.entries.delete(k);
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
    await this.teardown(e);
    this.entries.delete(k);
    try {
      task.bundle.delete();
    } catch (err) {
      ctx.log.warn({ err, id }, 'removing bundle');
    }
    if (!exit) throw notFound(`task ${id}: the shim no longer knows it`);
    return exit;
  }

  /** Asks the shim to exit once it serves nothing else, and drops our side of it. */
  private async teardown(e: Entry): Promise<void> {
    const c = e.connection;
    const task = e.task;
    if (c && task instanceof ShimTask) {
      c.tasks.delete(key(task.namespace, task.id));
      if (!c.conn.isClosed) {
        await task.shim
          .shutdown({ id: task.id }, this.timeoutMs)
          .catch((err) => this.opts.log.debug({ err, id: task.id }, 'shim shutdown'));
      }
      if (c.tasks.size === 0) {
        this.connections.delete(c.address);
        c.conn.close();
      }
    }
    e.log?.close();
  }

  private async connection(address: string): Promise<ShimConnection> {
    const existing = this.connections.get(address);
    if (existing && !existing.conn.isClosed) return existing;
    const conn = await TtrpcClient.connect(address, {
      log: this.opts.log,
      connectTimeoutMs: this.timeoutMs,
    });
    const c: ShimConnection = { address, conn, tasks: new Set() };
    this.connections.set(address, c);
    void conn.closed.then(() => this.onShimGone(c));
    return c;
  }

  /** A shim connection ended: every task it served that we did not delete has lost its shim. */
  private async onShimGone(c: ShimConnection): Promise<void> {
    if (this.connections.get(c.address) === c) this.connections.delete(c.address);
    if (this.closing) return;
    for (const k of [...c.tasks]) {
      const e = this.entries.get(k);
      if (!e || e.deleting || !(e.task instanceof ShimTask)) continue;
      this.opts.log.warn({ id: e.task.id, namespace: e.task.namespace }, 'shim disconnected');
      await this.markDead(e.task, e);
    }
  }

  /**
   * Cleans up after a shim that is gone (`shim delete`), keeps the task as
   * stopped with the exit the shim reported, and publishes that exit.
   */
  private async markDead(
    task: ShimTask | { bundle: Bundle; runtime: string },
    e?: Entry,
  ): Promise<void> {
    const { bundle } = task;
    const log = this.shimLogger(bundle.namespace, bundle.id);
    let exit: Exit;
    try {
      const binary =
        bundle.readFile(BINARY_FILE) ?? resolveShimBinary(task.runtime, this.opts.binary);
      exit = await deleteShim(this.opts.binary, {
        binary,
        namespace: bundle.namespace,
        id: bundle.id,
        bundle: bundle.path,
      });
    } catch (err) {
      log.warn({ err }, 'cleaning up after a dead shim failed');
      exit = { pid: 0, status: 255, exitedAt: nowNanos() };
    }
    e?.log?.close();
    // A Tasks.Delete that ran meanwhile already removed the task and its bundle.
    if (e && (e.deleting || this.entries.get(key(bundle.namespace, bundle.id)) !== e)) return;
    await removeStaleSocket(bundle).catch((err) =>
      log.debug({ err }, 'removing the dead shim socket'),
    );
    try {
      bundle.writeFile(
        EXIT_FILE,
        JSON.stringify({ pid: exit.pid, status: exit.status, exitedAt: String(exit.exitedAt) }),
      );
    } catch (err) {
      log.warn({ err }, 'recording the exit of a dead shim');
    }
    const stopped = new StoppedTask(bundle, task.runtime, exit);
    this.entries.set(key(bundle.namespace, bundle.id), { task: stopped });
    this.opts.events.taskExit(bundle.namespace, { containerId: bundle.id, id: bundle.id, ...exit });
  }

  /**
   * Finds every bundle under the state root: reconnects to live shims,
   * cleans up after dead ones (their tasks stay, stopped), removes what
   * interrupted deletes left behind and work dirs without a bundle.
   */
  async load(): Promise<void> {
    const { state, root } = this.opts.roots;
    for (const ns of safeReaddir(state)) {
      if (ns.startsWith('.')) continue;
      const nsDir = join(state, ns);
      const ids = safeReaddir(nsDir);
      removeHidden(nsDir, state, ids);
      for (const id of ids) {
        if (id.startsWith('.')) continue;
        await this.loadOne(new Bundle(this.opts.roots, ns, id));
      }
      const workDir = join(root, ns);
      for (const id of safeReaddir(workDir)) {
        if (!this.entries.has(key(ns, id))) removeTree(join(workDir, id), root);
      }
    }
  }

  private async loadOne(bundle: Bundle): Promise<void> {
    const log = this.shimLogger(bundle.namespace, bundle.id);
    const runtime = bundle.readFile(RUNTIME_FILE) ?? '';
    if (!existsSync(bundle.file('config.json')) || runtime === '') {
      log.warn('removing a bundle that was never completed');
      bundle.delete();
      return;
    }
    const recorded = bundle.readFile(EXIT_FILE);
    if (recorded !== undefined) {
      const r = JSON.parse(recorded) as { pid: number; status: number; exitedAt: string };
      const exit = { pid: r.pid, status: r.status, exitedAt: BigInt(r.exitedAt) };
      this.entries.set(key(bundle.namespace, bundle.id), {
        task: new StoppedTask(bundle, runtime, exit),
      });
      return;
    }
    if (!existsSync(bundle.file('address'))) {
      // The daemon stopped before the shim answered `start`: no task was ever created.
      log.warn('removing a bundle whose shim never started');
      bundle.delete();
      return;
    }
    let shimLog: ShimLog | undefined;
    try {
      const address = bundle.readAddress();
      shimLog = openShimLog(bundle.file('log'), log);
      const connection = await this.connection(address);
      const task = new ShimTask(new ShimClient(connection.conn, bundle.namespace), bundle, runtime);
      connection.tasks.add(key(bundle.namespace, bundle.id));
      const entry: Entry = { task, log: shimLog, connection };
      this.entries.set(key(bundle.namespace, bundle.id), entry);
      await task.shim.connect({ id: bundle.id }, this.timeoutMs);
      if (!(await this.shimHasTask(task))) {
        // The daemon stopped between `shim start` and Task.Create: nothing ran.
        log.warn('removing a shim that never got its task');
        entry.deleting = true;
        await this.teardown(entry);
        this.entries.delete(key(bundle.namespace, bundle.id));
        bundle.delete();
        return;
      }
      log.info('reconnected to shim');
    } catch (err) {
      log.warn({ err }, 'shim is gone');
      const entry = this.entries.get(key(bundle.namespace, bundle.id));
      if (entry) {
        entry.deleting = true;
        entry.connection?.tasks.delete(key(bundle.namespace, bundle.id));
      }
      shimLog?.close();
      await this.markDead({ bundle, runtime });
    }
  }

  private async shimHasTask(task: ShimTask): Promise<boolean> {
    try {
      await task.shim.state({ id: task.id });
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  /** Drops the connections; the shims and their tasks keep running. */
  async close(): Promise<void> {
    this.closing = true;
    for (const e of this.entries.values()) e.log?.close();
    for (const c of this.connections.values()) c.conn.close();
    this.connections.clear();
  }

  private shimLogger(namespace: string, id: string): Logger {
    return this.opts.log.child({ namespace, id });
  }
}

/** A killed shim leaves its socket file behind; nobody answers on it any more. */
async function removeStaleSocket(bundle: Bundle): Promise<void> {
  await claimSocketPath(socketPath(bundle.readAddress()));
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
