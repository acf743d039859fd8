import type { StateResponse } from '../../api/containerd/task/v2/shim.js';
import { failedPrecondition, notFound } from '../../core/errdefs/index.js';
import type { OpContext } from '../../core/namespaces/index.js';
import {
  type AnyValue,
  anyBuffer,
  type ExecOptions,
  type Exit,
  type Process,
  type ProcessInfo,
  type ProcessState,
  type Task,
} from '../../core/tasks/index.js';
import { processStatusFromProto } from '../../wire/tasks.js';
import { fromTimestamp } from '../../wire/timestamp.js';
import type { Bundle } from './bundle.js';
import type { ShimClient } from './shim-client.js';

export function stateFromShim(id: string, s: StateResponse): ProcessState {
  return {
    id,
    pid: s.pid,
    status: processStatusFromProto(s.status),
    stdin: s.stdin,
    stdout: s.stdout,
    stderr: s.stderr,
    terminal: s.terminal,
    exitStatus: s.exitStatus,
    exitedAt: fromTimestamp(s.exitedAt),
  };
}

/** An exec inside a task, addressed by the shim as (container id, exec id). */
export class ShimProcess implements Process {
  constructor(
    private readonly shim: ShimClient,
    private readonly containerId: string,
    readonly id: string,
  ) {}

  async state(_ctx: OpContext): Promise<ProcessState> {
    return stateFromShim(this.id, await this.shim.state({ id: this.containerId, execId: this.id }));
  }
  async start(_ctx: OpContext): Promise<number> {
    return (await this.shim.start({ id: this.containerId, execId: this.id })).pid;
  }
  async kill(_ctx: OpContext, signal: number, all: boolean): Promise<void> {
    await this.shim.kill({ id: this.containerId, execId: this.id, signal, all });
  }
  async wait(ctx: OpContext): Promise<Exit> {
    const r = await this.shim.wait({ id: this.containerId, execId: this.id }, ctx.signal);
    return { pid: 0, status: r.exitStatus, exitedAt: fromTimestamp(r.exitedAt) };
  }
  async resizePty(_ctx: OpContext, width: number, height: number): Promise<void> {
    await this.shim.resizePty({ id: this.containerId, execId: this.id, width, height });
  }
  async closeIO(_ctx: OpContext): Promise<void> {
    await this.shim.closeIO({ id: this.containerId, execId: this.id, stdin: true });
  }
  async delete(_ctx: OpContext): Promise<Exit> {
    const r = await this.shim.delete({ id: this.containerId, execId: this.id });
    return { pid: r.pid, status: r.exitStatus, exitedAt: fromTimestamp(r.exitedAt) };
  }
}

/** A task whose shim is alive: every call goes to the shim. */
export class ShimTask implements Task {
  /**
   * Set by the manager when it deletes the task, before it lets the shim go:
   * its exit, or null when the shim no longer knew the task. A Wait still in
   * flight then fails with the closing connection; it answers this instead.
   */
  deleted: Exit | null | undefined;

  constructor(
    readonly shim: ShimClient,
    readonly bundle: Bundle,
    readonly runtime: string,
  ) {}

  get id(): string {
    return this.bundle.id;
  }
  get namespace(): string {
    return this.bundle.namespace;
  }

  private get init(): ShimProcess {
    return new ShimProcess(this.shim, this.id, '');
  }

  async state(ctx: OpContext): Promise<ProcessState> {
    return { ...(await this.init.state(ctx)), id: this.id };
  }
  start(ctx: OpContext): Promise<number> {
    return this.init.start(ctx);
  }
  kill(ctx: OpContext, signal: number, all: boolean): Promise<void> {
    return this.init.kill(ctx, signal, all);
  }
  async wait(ctx: OpContext): Promise<Exit> {
    try {
      return await this.init.wait(ctx);
    } catch (err) {
      if (this.deleted === undefined) throw err;
      if (this.deleted === null) throw notFound(`task ${this.id}: deleted`, { cause: err });
      return this.deleted;
    }
  }
  resizePty(ctx: OpContext, width: number, height: number): Promise<void> {
    return this.init.resizePty(ctx, width, height);
  }
  closeIO(ctx: OpContext): Promise<void> {
    return this.init.closeIO(ctx);
  }
  /** The task as a whole is deleted through the manager (bundle, shim). */
  delete(_ctx: OpContext): Promise<Exit> {
    throw failedPrecondition(`task ${this.id}: delete through the task manager`);
  }
  async pids(_ctx: OpContext): Promise<ProcessInfo[]> {
    const r = await this.shim.pids({ id: this.id });
    return r.processes.map((p) => ({
      pid: p.pid,
      ...(p.info && { info: { typeUrl: p.info.typeUrl, value: p.info.value } }),
    }));
  }
  async pause(_ctx: OpContext): Promise<void> {
    await this.shim.pause({ id: this.id });
  }
  async resume(_ctx: OpContext): Promise<void> {
    await this.shim.resume({ id: this.id });
  }
  async exec(_ctx: OpContext, execId: string, opts: ExecOptions): Promise<Process> {
    await this.shim.exec({
      id: this.id,
      execId,
      terminal: opts.terminal,
      stdin: opts.stdin,
      stdout: opts.stdout,
      stderr: opts.stderr,
      spec: anyBuffer(opts.spec),
    });
    return new ShimProcess(this.shim, this.id, execId);
  }
  async process(ctx: OpContext, execId: string): Promise<Process> {
    if (execId === '') return this;
    const p = new ShimProcess(this.shim, this.id, execId);
    // The shim is the one that knows its execs: ask it, so a missing one is not_found.
    await p.state(ctx);
    return p;
  }
  async update(
    _ctx: OpContext,
    resources: AnyValue | undefined,
    annotations: Record<string, string>,
  ): Promise<void> {
    await this.shim.update({ id: this.id, resources: anyBuffer(resources), annotations });
  }
  async stats(_ctx: OpContext): Promise<AnyValue | undefined> {
    const r = await this.shim.stats({ id: this.id });
    return r.stats && { typeUrl: r.stats.typeUrl, value: r.stats.value };
  }
  async checkpoint(_ctx: OpContext, path: string, options?: AnyValue): Promise<void> {
    await this.shim.checkpoint({ id: this.id, path, options: anyBuffer(options) });
  }
}

/**
 * The task of a container whose shim is gone. Its exit is what `shim delete`
 * reported (or 255 when even that failed), kept in the bundle's `exit` file
 * so it survives restarts, until the task is deleted. Anything but reading
 * its state, waiting and deleting is `failed_precondition`.
 */
export class StoppedTask implements Task {
  constructor(
    readonly bundle: Bundle,
    readonly runtime: string,
    readonly exit: Exit,
  ) {}

  get id(): string {
    return this.bundle.id;
  }
  get namespace(): string {
    return this.bundle.namespace;
  }

  private stopped(): never {
    throw failedPrecondition(`task ${this.id}: the task is stopped (its shim is gone)`);
  }

  async state(_ctx: OpContext): Promise<ProcessState> {
    return {
      id: this.id,
      pid: this.exit.pid,
      status: 'stopped',
      stdin: '',
      stdout: '',
      stderr: '',
      terminal: false,
      exitStatus: this.exit.status,
      exitedAt: this.exit.exitedAt,
    };
  }
  async start(): Promise<number> {
    this.stopped();
  }
  async kill(): Promise<void> {
    this.stopped();
  }
  async wait(): Promise<Exit> {
    return this.exit;
  }
  async resizePty(): Promise<void> {
    this.stopped();
  }
  async closeIO(): Promise<void> {
    this.stopped();
  }
  async delete(): Promise<Exit> {
    this.stopped();
  }
  async pids(): Promise<ProcessInfo[]> {
    return [];
  }
  async pause(): Promise<void> {
    this.stopped();
  }
  async resume(): Promise<void> {
    this.stopped();
  }
  async exec(): Promise<Process> {
    this.stopped();
  }
  async process(_ctx: OpContext, execId: string): Promise<Process> {
    if (execId === '') return this;
    throw notFound(`process ${execId} of task ${this.id}`);
  }
  async update(): Promise<void> {
    this.stopped();
  }
  async stats(): Promise<AnyValue | undefined> {
    throw notFound(`task ${this.id}: no metrics, its shim is gone`);
  }
  async checkpoint(): Promise<void> {
    this.stopped();
  }
}
