import { CheckpointOptions, ProcessDetails } from '../api/containerd/runc/options/oci.js';
import {
  CheckpointTaskRequest,
  CloseIORequest,
  ConnectRequest,
  ConnectResponse,
  CreateTaskRequest,
  CreateTaskResponse,
  DeleteRequest,
  DeleteResponse,
  ExecProcessRequest,
  KillRequest,
  PauseRequest,
  PidsRequest,
  PidsResponse,
  ResizePtyRequest,
  ResumeRequest,
  ShutdownRequest,
  StartRequest,
  StartResponse,
  StateRequest,
  StateResponse,
  StatsRequest,
  StatsResponse,
  UpdateTaskRequest,
  WaitRequest,
  WaitResponse,
} from '../api/containerd/task/v2/shim.js';
import { Status } from '../api/containerd/types/task/task.js';
import { Empty } from '../api/google/protobuf/empty.js';
import { alreadyExists, invalidArgument, notFound } from '../core/errdefs/index.js';
import type { Logger } from '../core/log/index.js';
import type { TtrpcRequestContext, TtrpcServer } from '../ttrpc/server.js';
import { containerLifeDone } from './code-cache.js';
import { Container, drainConsole } from './container.js';
import type { ProcessExit, ShimDeps } from './deps.js';
import { type EventSink, toTimestamp } from './events.js';
import { decodeOptions } from './options.js';
import type { Process, ProcessStatus } from './process.js';
import { cgroupMetrics } from './stats.js';

/**
 * containerd.task.v2.Task for every container of the group, whatever its
 * namespace (from the request's `containerd-namespace-ttrpc` metadata, else
 * the shim's -namespace). Behaves as containerd's runc shim (task/service.go):
 * the same events in the same order, the init's exit published after every
 * exec's, execs killed with the init when the container shares the host's
 * pid namespace, errors of the same kinds.
 */

export const TASK_SERVICE = 'containerd.task.v2.Task';
export const NAMESPACE_HEADER = 'containerd-namespace-ttrpc';
const PROCESS_DETAILS_TYPE = 'containerd.runc.v1.ProcessDetails';
/** Go's zero time.Time, as the Go shim sends it for a process that has not exited. */
const ZERO_TIME = { seconds: -62135596800n, nanos: 0 };

interface Codec<T> {
  decode(input: Uint8Array): T;
  encode(message: T): { finish(): Uint8Array };
}

export interface ServiceOptions {
  /** The shim's -namespace: for requests that carry none. */
  namespace: string;
  deps: ShimDeps;
  events: EventSink;
  log: Logger;
  /** Logs every request. */
  debug?: boolean;
  /** Called when Shutdown finds no container left (the process should exit). */
  onShutdown: () => void;
}

export class TaskService {
  private readonly containers = new Map<string, Container>();
  /** Containers being created, by key: a second Create of the id is already_exists. */
  private readonly creating = new Set<string>();
  private readonly log: Logger;
  private readonly debug: boolean;
  /** When the last request came (Date.now()): a lingering shim exits only after a quiet spell. */
  lastRequest = Date.now();

  constructor(private readonly opts: ServiceOptions) {
    this.log = opts.log;
    this.debug = opts.debug ?? false;
    opts.deps.oom?.onOom((key) => {
      const c = this.containers.get(key);
      if (c) this.opts.events.publish(c.namespace, 'oom', { containerId: c.id });
    });
  }

  /** How many containers this shim serves. */
  get size(): number {
    return this.containers.size + this.creating.size;
  }

  register(server: TtrpcServer): void {
    const on = <Req, Res>(
      method: string,
      req: Codec<Req>,
      res: Codec<Res>,
      fn: (r: Req, ns: string, ctx: TtrpcRequestContext) => Promise<Res>,
    ): void => {
      server.register(TASK_SERVICE, method, async (payload, ctx) => {
        this.lastRequest = Date.now();
        const ns = ctx.metadata.get(NAMESPACE_HEADER)?.[0] || this.opts.namespace;
        const r = req.decode(payload);
        if (!this.debug) return res.encode(await fn(r, ns, ctx)).finish();
        this.log.debug({ method, request: r, namespace: ns }, 'request');
        const t0 = performance.now();
        const out = res.encode(await fn(r, ns, ctx)).finish();
        this.log.debug({ method, ms: Math.round((performance.now() - t0) * 10) / 10 }, 'answered');
        return out;
      });
    };
    on('Create', CreateTaskRequest, CreateTaskResponse, (r, ns) => this.create(r, ns));
    on('Start', StartRequest, StartResponse, (r, ns) => this.start(r, ns));
    on('Delete', DeleteRequest, DeleteResponse, (r, ns) => this.delete(r, ns));
    on('Exec', ExecProcessRequest, Empty, (r, ns) => this.exec(r, ns));
    on('State', StateRequest, StateResponse, (r, ns) => this.state(r, ns));
    on('Pids', PidsRequest, PidsResponse, (r, ns) => this.pids(r, ns));
    on('Kill', KillRequest, Empty, (r, ns) => this.kill(r, ns));
    on('ResizePty', ResizePtyRequest, Empty, (r, ns) => this.resizePty(r, ns));
    on('CloseIO', CloseIORequest, Empty, (r, ns) => this.closeIO(r, ns));
    on('Pause', PauseRequest, Empty, (r, ns) => this.pause(r, ns));
    on('Resume', ResumeRequest, Empty, (r, ns) => this.resume(r, ns));
    on('Update', UpdateTaskRequest, Empty, (r, ns) => this.update(r, ns));
    on('Wait', WaitRequest, WaitResponse, (r, ns, ctx) => this.wait(r, ns, ctx.signal));
    on('Stats', StatsRequest, StatsResponse, (r, ns) => this.stats(r, ns));
    on('Connect', ConnectRequest, ConnectResponse, (r, ns) => this.connect(r, ns));
    on('Shutdown', ShutdownRequest, Empty, (r) => this.shutdown(r));
    on('Checkpoint', CheckpointTaskRequest, Empty, (r, ns) => this.checkpoint(r, ns));
  }

  private container(ns: string, id: string): Container {
    const c = this.containers.get(key(ns, id));
    if (!c) throw notFound('container not created');
    return c;
  }

  async create(r: CreateTaskRequest, ns: string): Promise<CreateTaskResponse> {
    if (r.id === '') throw invalidArgument('container id is required');
    const k = key(ns, r.id);
    if (this.containers.has(k) || this.creating.has(k)) {
      throw alreadyExists(`container ${r.id}`);
    }
    this.creating.add(k);
    let c: Container;
    try {
      c = await Container.create(
        {
          namespace: ns,
          id: r.id,
          bundle: r.bundle,
          rootfs: r.rootfs,
          stdio: { stdin: r.stdin, stdout: r.stdout, stderr: r.stderr, terminal: r.terminal },
          checkpoint: r.checkpoint,
          parentCheckpoint: r.parentCheckpoint,
          options: decodeOptions(r.options),
        },
        this.opts.deps,
        this.log,
      );
    } finally {
      this.creating.delete(k);
    }
    this.containers.set(k, c);
    this.opts.events.publish(ns, 'create', {
      containerId: r.id,
      bundle: r.bundle,
      rootfs: r.rootfs,
      io: { stdin: r.stdin, stdout: r.stdout, stderr: r.stderr, terminal: r.terminal },
      checkpoint: r.checkpoint,
      pid: c.pid,
    });
    if (c.pid > 0) {
      try {
        this.opts.deps.oom?.add(k, c.pid);
      } catch (err) {
        this.log.error({ err, id: r.id }, 'add cg to OOM monitor');
      }
      this.watchInit(c);
    }
    return { pid: c.pid };
  }

  private watchInit(c: Container): void {
    c.initWatched = true;
    void this.opts.deps.reaper.wait(c.pid).then((e) => this.handleInitExit(c, e));
  }

  async start(r: StartRequest, ns: string): Promise<StartResponse> {
    const c = this.container(ns, r.id);
    if (r.execId === '') {
      let started!: () => void;
      const gate = new Promise<void>((resolve) => {
        started = resolve;
      });
      c.starting = gate;
      const restoring = c.pid === 0;
      try {
        await c.startInit();
        this.opts.events.publish(ns, 'start', { containerId: c.id, pid: c.pid });
      } finally {
        started();
      }
      if (restoring && c.pid > 0) {
        try {
          this.opts.deps.oom?.add(key(ns, c.id), c.pid);
        } catch (err) {
          this.log.error({ err, id: c.id }, 'add cg to OOM monitor');
        }
        this.watchInit(c);
      }
      return { pid: c.pid };
    }
    const p = c.process(r.execId);
    c.runningExecs++;
    try {
      await c.startExec(p);
    } catch (err) {
      c.execExited();
      throw err;
    }
    this.opts.events.publish(ns, 'execStarted', {
      containerId: c.id,
      execId: p.id,
      pid: p.pid,
    });
    void this.opts.deps.reaper.wait(p.pid).then((e) => this.handleProcessExit(c, p, e));
    return { pid: p.pid };
  }

  /** The init died: kill the rest if it shared a pid namespace, let the execs' exits go first. */
  private async handleInitExit(c: Container, e: ProcessExit): Promise<void> {
    c.initExited = true;
    try {
      await c.starting;
      if (c.killAllOnExit) {
        await c
          .killAll()
          .catch((err) => this.log.error({ err, id: c.id }, "failed to kill init's children"));
      }
      await c.execsDone();
      this.opts.deps.oom?.remove(key(c.namespace, c.id));
    } catch (err) {
      this.log.error({ err, id: c.id }, 'init exit');
    }
    await this.handleProcessExit(c, c.init, e);
  }

  private async handleProcessExit(c: Container, p: Process, e: ProcessExit): Promise<void> {
    try {
      await drainConsole(p);
      p.closeIO();
    } catch (err) {
      this.log.warn({ err, id: c.id, exec: p.id }, 'closing stdio');
    }
    p.setExited(e.status, e.exitedAt);
    this.opts.events.publish(c.namespace, 'exit', {
      containerId: c.id,
      id: p.id,
      pid: e.pid,
      exitStatus: e.status,
      exitedAt: toTimestamp(e.exitedAt),
    });
    if (!p.init) c.execExited();
  }

  async delete(r: DeleteRequest, ns: string): Promise<DeleteResponse> {
    const c = this.container(ns, r.id);
    const p = await c.delete(r.execId);
    const exitedAt = p.exitedAt ? toTimestamp(p.exitedAt) : ZERO_TIME;
    if (r.execId === '') {
      this.containers.delete(key(ns, r.id));
      this.opts.deps.oom?.remove(key(ns, r.id));
      this.opts.events.publish(ns, 'delete', {
        containerId: c.id,
        pid: p.pid,
        exitStatus: p.exitStatus,
        exitedAt,
        id: '',
      });
      if (p.pid > 0) containerLifeDone();
    }
    return { pid: p.pid, exitStatus: p.exitStatus, exitedAt };
  }

  async exec(r: ExecProcessRequest, ns: string): Promise<Empty> {
    const c = this.container(ns, r.id);
    if (r.execId === '') throw invalidArgument('exec id is required');
    c.addExec(
      r.execId,
      { stdin: r.stdin, stdout: r.stdout, stderr: r.stderr, terminal: r.terminal },
      r.spec?.value ?? new Uint8Array(),
    );
    this.opts.events.publish(ns, 'execAdded', { containerId: c.id, execId: r.execId });
    return {};
  }

  async state(r: StateRequest, ns: string): Promise<StateResponse> {
    const c = this.container(ns, r.id);
    const p = c.process(r.execId);
    let status: ProcessStatus = p.status;
    if (!p.init && (c.init.status === 'paused' || c.init.status === 'pausing')) {
      status = c.init.status;
    }
    return {
      id: p.id,
      bundle: c.bundle,
      pid: p.pid,
      status: STATUS[status],
      stdin: p.stdio.stdin,
      stdout: p.stdio.stdout,
      stderr: p.stdio.stderr,
      terminal: p.stdio.terminal,
      exitStatus: p.exitStatus,
      exitedAt: p.exitedAt ? toTimestamp(p.exitedAt) : ZERO_TIME,
      execId: r.execId,
    };
  }

  async pids(r: PidsRequest, ns: string): Promise<PidsResponse> {
    const c = this.container(ns, r.id);
    const pids = await c.runc.ps(c.id);
    const byPid = new Map<number, string>();
    for (const e of c.execs.values()) if (e.pid > 0) byPid.set(e.pid, e.id);
    return {
      processes: pids.map((pid) => {
        const execId = byPid.get(pid);
        return execId === undefined
          ? { pid }
          : {
              pid,
              info: {
                typeUrl: PROCESS_DETAILS_TYPE,
                value: Buffer.from(ProcessDetails.encode({ execId }).finish()),
              },
            };
      }),
    };
  }

  async kill(r: KillRequest, ns: string): Promise<Empty> {
    await this.container(ns, r.id).kill(r.execId, r.signal, r.all);
    return {};
  }

  async resizePty(r: ResizePtyRequest, ns: string): Promise<Empty> {
    const p = this.container(ns, r.id).process(r.execId);
    p.check('resize');
    try {
      p.console?.resize(r.width, r.height);
    } catch (err) {
      // The pty's output ended (the process is exiting): its master is gone,
      // a resize is moot, as the Go shim's resize of an exited init.
      if ((err as NodeJS.ErrnoException).code !== 'EBADF') throw err;
    }
    return {};
  }

  async closeIO(r: CloseIORequest, ns: string): Promise<Empty> {
    const p = this.container(ns, r.id).process(r.execId);
    if (r.stdin) {
      p.io?.closeStdin();
      p.console?.closeStdin();
    }
    return {};
  }

  async pause(r: PauseRequest, ns: string): Promise<Empty> {
    const c = this.container(ns, r.id);
    await c.pause();
    this.opts.events.publish(ns, 'paused', { containerId: c.id });
    return {};
  }

  async resume(r: ResumeRequest, ns: string): Promise<Empty> {
    const c = this.container(ns, r.id);
    await c.resume();
    this.opts.events.publish(ns, 'resumed', { containerId: c.id });
    return {};
  }

  async update(r: UpdateTaskRequest, ns: string): Promise<Empty> {
    const c = this.container(ns, r.id);
    await c.update(r.resources?.value ?? new Uint8Array());
    return {};
  }

  async wait(r: WaitRequest, ns: string, signal: AbortSignal): Promise<WaitResponse> {
    const p = this.container(ns, r.id).process(r.execId);
    await p.wait(signal);
    return {
      exitStatus: p.exitStatus,
      exitedAt: p.exitedAt ? toTimestamp(p.exitedAt) : ZERO_TIME,
    };
  }

  async stats(r: StatsRequest, ns: string): Promise<StatsResponse> {
    const c = this.container(ns, r.id);
    const m = await cgroupMetrics(c.cgroup);
    return { stats: { typeUrl: m.typeUrl, value: Buffer.from(m.value) } };
  }

  async connect(r: ConnectRequest, ns: string): Promise<ConnectResponse> {
    const c = this.containers.get(key(ns, r.id));
    return { shimPid: process.pid, taskPid: c?.pid ?? 0, version: '' };
  }

  async shutdown(_r: ShutdownRequest): Promise<Empty> {
    if (this.size === 0) setImmediate(() => this.opts.onShutdown());
    return {};
  }

  async checkpoint(r: CheckpointTaskRequest, ns: string): Promise<Empty> {
    const c = this.container(ns, r.id);
    const o =
      r.options && r.options.value.length > 0
        ? CheckpointOptions.decode(r.options.value)
        : CheckpointOptions.fromPartial({});
    await c.checkpoint({
      path: r.path || o.imagePath,
      exit: o.exit,
      workPath: o.workPath,
      openTcp: o.openTcp,
      externalUnixSockets: o.externalUnixSockets,
      terminal: o.terminal,
      fileLocks: o.fileLocks,
      emptyNamespaces: o.emptyNamespaces,
    });
    return {};
  }
}

const STATUS: Record<ProcessStatus, Status> = {
  created: Status.CREATED,
  running: Status.RUNNING,
  paused: Status.PAUSED,
  pausing: Status.PAUSING,
  stopped: Status.STOPPED,
  deleted: Status.UNKNOWN,
};

function key(ns: string, id: string): string {
  return `${ns}/${id}`;
}
