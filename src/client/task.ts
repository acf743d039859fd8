import { constants } from 'node:os';
import type {
  DeleteResponse,
  GetResponse,
  ListPidsResponse,
  MetricsResponse,
  StartResponse,
  TasksClient,
  WaitResponse,
} from '../api/containerd/services/tasks/v1/tasks.js';
import type { AnyValue } from '../core/any/index.js';
import { failedPrecondition, internal, invalidArgument } from '../core/errdefs/index.js';
import type { ProcessStatus } from '../core/tasks/index.js';
import { anyFromProto } from '../wire/any.js';
import { processStatusFromProto } from '../wire/tasks.js';
import { fromTimestamp } from '../wire/timestamp.js';
import type { Creator, IO } from './cio/index.js';
import type { CallContext, Rpc } from './rpc.js';

/** Per-call options: every verb may be canceled. */
export interface CallOpts {
  signal?: AbortSignal;
}

/** How a process ended (containerd's `ExitStatus`). */
export interface ExitStatus {
  exitCode: number;
  /** When it exited; the epoch for a process that never ran. */
  exitedAt: Date;
}

/** containerd's `Status`: the process state, and its exit once stopped. */
export interface Status {
  status: ProcessStatus;
  exitStatus: number;
  exitedAt: Date;
}

/** One process of a task, as `task.pids()` lists them. */
export interface ProcessInfo {
  pid: number;
  /** runc's ProcessDetails (the exec id) for execs, when the shim gives it. */
  info?: AnyValue;
}

/** A task's cgroup statistics, as `task.metrics()` answers them. */
export interface Metrics {
  id: string;
  timestamp: Date;
  /** The shim's cgroup statistics (`io.containerd.cgroups.v1.Metrics` or `v2`), undecoded. */
  data?: AnyValue;
}

/** A signal by number or name (`'SIGTERM'`, `'TERM'`). */
export type Signal = number | string;

/** The task service and the namespace a process lives in. */
export interface TaskScope {
  readonly tasks: TasksClient;
  readonly rpc: Rpc;
  readonly namespace: string | undefined;
}

/**
 * One process of a container's task (containerd's `Process`): the init
 * process ({@link Task}) or an exec. Its IO lives in the client; deleting
 * the process removes its FIFOs.
 */
export class Process {
  constructor(
    protected readonly scope: TaskScope,
    readonly containerId: string,
    /** The exec id; '' for the init process. */
    readonly execId: string,
    protected pidValue: number,
    /** The process's IO in this client, if it has one. */
    readonly io: IO | undefined,
  ) {
    // The end of the caller's stdin is the process's EOF once it runs.
    io?.stdinEnded.then(() => {
      this.stdinEnded = true;
      if (this.started) this.closeStdinQuietly();
    });
  }

  private started = false;
  private stdinEnded = false;

  private closeStdinQuietly(): void {
    this.scope.rpc
      .unary({ namespace: this.scope.namespace }, (md, o, cb) =>
        this.tasks.closeIo(
          { containerId: this.containerId, execId: this.execId, stdin: true },
          md,
          o,
          cb,
        ),
      )
      .catch(() => undefined);
  }

  /** The exec id, or the container id for the init process. */
  get id(): string {
    return this.execId === '' ? this.containerId : this.execId;
  }

  /** The process id on the host (0 until an exec is started). */
  get pid(): number {
    return this.pidValue;
  }

  protected ctx(opts: CallOpts = {}): CallContext {
    return { namespace: this.scope.namespace, signal: opts.signal };
  }

  protected get tasks(): TasksClient {
    return this.scope.tasks;
  }

  async start(opts?: CallOpts): Promise<void> {
    try {
      const res = await this.scope.rpc.unary<StartResponse>(this.ctx(opts), (md, o, cb) =>
        this.tasks.start({ containerId: this.containerId, execId: this.execId }, md, o, cb),
      );
      this.pidValue = res.pid;
      this.started = true;
      if (this.stdinEnded) this.closeStdinQuietly();
    } catch (err) {
      // As containerd's: a process that cannot start will never use its IO.
      if (this.io !== undefined) {
        this.io.cancel();
        await this.io.close();
      }
      throw err;
    }
  }

  /**
   * Resolves with the exit status once the process exits. The Wait call is
   * sent now, as containerd's `Wait` does, so calling this before
   * {@link start} cannot miss a fast exit.
   */
  wait(opts?: CallOpts): Promise<ExitStatus> {
    return this.scope.rpc
      .unary<WaitResponse>(this.ctx(opts), (md, o, cb) =>
        this.tasks.wait({ containerId: this.containerId, execId: this.execId }, md, o, cb),
      )
      .then((res) => ({ exitCode: res.exitStatus, exitedAt: dateOf(fromTimestamp(res.exitedAt)) }));
  }

  async kill(signal: Signal = 'SIGTERM', opts: CallOpts & { all?: boolean } = {}): Promise<void> {
    const signo = signalNumber(signal);
    await this.scope.rpc.unary(this.ctx(opts), (md, o, cb) =>
      this.tasks.kill(
        {
          containerId: this.containerId,
          execId: this.execId,
          signal: signo,
          all: opts.all ?? false,
        },
        md,
        o,
        cb,
      ),
    );
  }

  async status(opts?: CallOpts): Promise<Status> {
    const res = await this.scope.rpc.unary<GetResponse>(this.ctx(opts), (md, o, cb) =>
      this.tasks.get({ containerId: this.containerId, execId: this.execId }, md, o, cb),
    );
    const p = res.process;
    if (p === undefined) throw internal(`task "${this.containerId}": get answered no process`);
    return {
      status: processStatusFromProto(p.status),
      exitStatus: p.exitStatus,
      exitedAt: dateOf(fromTimestamp(p.exitedAt)),
    };
  }

  async resize(width: number, height: number, opts?: CallOpts): Promise<void> {
    await this.scope.rpc.unary(this.ctx(opts), (md, o, cb) =>
      this.tasks.resizePty(
        { containerId: this.containerId, execId: this.execId, width, height },
        md,
        o,
        cb,
      ),
    );
  }

  /** Closes the process's stdin (containerd's `CloseIO` with `WithStdinCloser`). */
  async closeIO(opts?: CallOpts): Promise<void> {
    await this.io?.closeStdin();
    await this.scope.rpc.unary(this.ctx(opts), (md, o, cb) =>
      this.tasks.closeIo(
        { containerId: this.containerId, execId: this.execId, stdin: true },
        md,
        o,
        cb,
      ),
    );
  }

  /**
   * Deletes the stopped process and answers how it exited. As containerd's
   * client: a running or paused process is refused (`failed_precondition`);
   * the output is copied to the end before the delete, and the FIFOs are
   * removed after it.
   */
  async delete(opts?: CallOpts): Promise<ExitStatus> {
    const st = await this.status(opts);
    const deletable =
      st.status === 'stopped' ||
      st.status === 'unknown' ||
      (st.status === 'created' && this.pidValue === 0);
    if (!deletable) {
      throw failedPrecondition(
        `process "${this.id}" must be stopped before deletion: ${st.status}`,
      );
    }
    await this.drainIO();
    const res = await this.scope.rpc.unary<DeleteResponse>(this.ctx(opts), (md, o, cb) =>
      this.execId === ''
        ? this.tasks.delete({ containerId: this.containerId }, md, o, cb)
        : this.tasks.deleteProcess(
            { containerId: this.containerId, execId: this.execId },
            md,
            o,
            cb,
          ),
    );
    await this.io?.close();
    return { exitCode: res.exitStatus, exitedAt: dateOf(fromTimestamp(res.exitedAt)) };
  }

  /**
   * Waits for the output of the exited process to be copied (`delete` does
   * it first). Once the process has exited the shim closes its FIFO ends,
   * so copying ends by itself; pending opens are canceled first. A shim that
   * keeps its ends open (a child of the process holding them) does not hold
   * the caller up for more than {@link IO_DRAIN_MS}. The FIFOs stay until
   * the delete or `io.close()`.
   */
  async drainIO(): Promise<void> {
    const io = this.io;
    if (io === undefined) return;
    io.cancel();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      io.wait(),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, IO_DRAIN_MS);
      }),
    ]);
    clearTimeout(timer);
  }
}

/** How long a delete waits for the output of an exited process to be copied. */
export const IO_DRAIN_MS = 10_000;

/** A container's task (containerd's `Task`): its init process and the container-wide verbs. */
export class Task extends Process {
  constructor(scope: TaskScope, containerId: string, pid: number, io: IO | undefined) {
    super(scope, containerId, '', pid, io);
  }

  async pause(opts?: CallOpts): Promise<void> {
    await this.scope.rpc.unary(this.ctx(opts), (md, o, cb) =>
      this.tasks.pause({ containerId: this.containerId }, md, o, cb),
    );
  }

  async resume(opts?: CallOpts): Promise<void> {
    await this.scope.rpc.unary(this.ctx(opts), (md, o, cb) =>
      this.tasks.resume({ containerId: this.containerId }, md, o, cb),
    );
  }

  async pids(opts?: CallOpts): Promise<ProcessInfo[]> {
    const res = await this.scope.rpc.unary<ListPidsResponse>(this.ctx(opts), (md, o, cb) =>
      this.tasks.listPids({ containerId: this.containerId }, md, o, cb),
    );
    return res.processes.map((p) => ({
      pid: p.pid,
      ...(p.info && { info: anyFromProto(p.info) }),
    }));
  }

  /**
   * Adds a process to the task (not started: call its `start`). `spec` is
   * the OCI process (JSON object, as `spec.process` of a runtime spec).
   */
  async exec(
    execId: string,
    spec: Record<string, unknown>,
    ioCreate: Creator,
    opts?: CallOpts,
  ): Promise<Process> {
    if (execId === '') throw invalidArgument('exec id must not be empty');
    const io = await ioCreate(execId);
    try {
      const processSpec = { ...spec, terminal: io.config.terminal };
      await this.scope.rpc.unary(this.ctx(opts), (md, o, cb) =>
        this.tasks.exec(
          {
            containerId: this.containerId,
            execId,
            stdin: io.config.stdin,
            stdout: io.config.stdout,
            stderr: io.config.stderr,
            terminal: io.config.terminal,
            spec: {
              typeUrl: PROCESS_TYPE_URL,
              value: Buffer.from(JSON.stringify(processSpec)),
            },
          },
          md,
          o,
          cb,
        ),
      );
    } catch (err) {
      io.cancel();
      await io.close();
      throw err;
    }
    return new Process(this.scope, this.containerId, execId, 0, io);
  }

  /** An exec of this task that was started elsewhere (no IO in this client). */
  async loadProcess(execId: string, opts?: CallOpts): Promise<Process> {
    const res = await this.scope.rpc.unary<GetResponse>(this.ctx(opts), (md, o, cb) =>
      this.tasks.get({ containerId: this.containerId, execId }, md, o, cb),
    );
    return new Process(this.scope, this.containerId, execId, res.process?.pid ?? 0, undefined);
  }

  /** The task's cgroup metrics, as the shim reports them. */
  async metrics(opts?: CallOpts): Promise<Metrics> {
    const res = await this.scope.rpc.unary<MetricsResponse>(this.ctx(opts), (md, o, cb) =>
      this.tasks.metrics({ filters: [`id==${this.containerId}`] }, md, o, cb),
    );
    const m = res.metrics.find((x) => x.id === this.containerId) ?? res.metrics[0];
    if (m === undefined) throw internal(`task "${this.containerId}": no metrics in the response`);
    return {
      id: m.id,
      timestamp: dateOf(fromTimestamp(m.timestamp)),
      ...(m.data && { data: anyFromProto(m.data) }),
    };
  }

  /** Updates the task's resources (an OCI `LinuxResources` object) and annotations. */
  async update(
    update: { resources?: Record<string, unknown>; annotations?: Record<string, string> },
    opts?: CallOpts,
  ): Promise<void> {
    await this.scope.rpc.unary(this.ctx(opts), (md, o, cb) =>
      this.tasks.update(
        {
          containerId: this.containerId,
          ...(update.resources && {
            resources: {
              typeUrl: RESOURCES_TYPE_URL,
              value: Buffer.from(JSON.stringify(update.resources)),
            },
          }),
          annotations: { ...update.annotations },
        },
        md,
        o,
        cb,
      ),
    );
  }
}

/** containerd's type URL of an OCI runtime spec (JSON in an Any). */
export const SPEC_TYPE_URL = 'types.containerd.io/opencontainers/runtime-spec/1/Spec';
/** containerd's type URL of an OCI process (an exec's spec, JSON in an Any). */
export const PROCESS_TYPE_URL = 'types.containerd.io/opencontainers/runtime-spec/1/Process';
export const RESOURCES_TYPE_URL =
  'types.containerd.io/opencontainers/runtime-spec/1/LinuxResources';

function dateOf(nanos: bigint): Date {
  return new Date(Number(nanos / 1_000_000n));
}

/** A signal number from a number or a name, as `ctr`'s `ParseSignal`. */
export function signalNumber(signal: Signal): number {
  if (typeof signal === 'number') {
    if (!Number.isInteger(signal) || signal <= 0) {
      throw invalidArgument(`invalid signal ${signal}`);
    }
    return signal;
  }
  const name = signal.toUpperCase();
  const signals = constants.signals as Record<string, number>;
  const n =
    signals[name] ?? signals[`SIG${name}`] ?? (/^\d+$/.test(name) ? Number(name) : undefined);
  if (n === undefined || n <= 0) throw invalidArgument(`unknown signal "${signal}"`);
  return n;
}
