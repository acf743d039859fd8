import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ConnectRequest,
  ConnectResponse,
  CreateTaskRequest,
  CreateTaskResponse,
  DeleteRequest,
  DeleteResponse,
  KillRequest,
  ShutdownRequest,
  StartRequest,
  StartResponse,
  StateRequest,
  StateResponse,
  WaitRequest,
  WaitResponse,
} from '../../../api/containerd/task/v2/shim.js';
import { Status } from '../../../api/containerd/types/task/task.js';
import { Empty } from '../../../api/google/protobuf/empty.js';
import { failedPrecondition, internal, notFound } from '../../../core/errdefs/index.js';
import { nowNanos } from '../../../core/time/index.js';
import type { TtrpcServer } from '../../../ttrpc/index.js';
import { toTimestamp } from '../../../wire/timestamp.js';

/**
 * What a test makes the fake shim do for one container id. Read again on
 * every command and call, so a test may change it while the shim runs.
 */
export interface FakeShimScript {
  /** `shim start` fails (exit status 1, this on stderr) before serving anything. */
  failStart?: string;
  /** `shim start` answers an address no server listens on. */
  startWithoutServing?: boolean;
  /** Task.Create fails with this message (`internal`). */
  failCreate?: string;
  /** The shim process exits (as if killed) while handling Task.Create. */
  dieOnCreate?: boolean;
  /** The shim process exits (as if killed) while handling Connect (a daemon reconnecting). */
  dieOnConnect?: boolean;
  /**
   * As berth's grouped shim: `start` serves on the group's address
   * (src/shim/group.ts, under the fake's socket dir), or answers it
   * without starting another server when one listens there already.
   */
  group?: string;
}

export interface FakeShimOptions {
  /** The script of a container, read at each call. */
  script(id: string): FakeShimScript;
  /** Called once the shim serves no task and was asked to shut down. */
  exit(): void;
  /** Called instead of answering when the script says to die. */
  die(): void;
}

interface FakeTask {
  bundle: string;
  pid: number;
  status: Status;
  exitStatus: number;
  exitedAt?: bigint;
  /** Settled when the task exits. */
  exited: Promise<void>;
  exit(status: number): void;
}

const SERVICE = 'containerd.task.v2.Task';

/**
 * A test double of a task v2 shim (`containerd.task.v2.Task`) on berth's
 * own ttrpc server: Create, Start, State, Kill, Wait, Delete, Connect and
 * Shutdown, scripted per container ({@link FakeShimScript}). It runs no
 * container: a task's pid is the shim's own, Kill ends the task with
 * 128 + signal, and Create records the options it got in the bundle
 * (`fake-create-options`, the Any's type URL and base64 value as JSON).
 * Other methods are unimplemented. It publishes no events.
 */
export class FakeShim {
  private readonly tasks = new Map<string, FakeTask>();

  constructor(private readonly opts: FakeShimOptions) {}

  register(server: TtrpcServer): void {
    server.register(SERVICE, 'Create', async (payload) => {
      const req = CreateTaskRequest.decode(payload);
      const script = this.opts.script(req.id);
      if (script.dieOnCreate) {
        this.opts.die();
        throw internal('the shim is dying');
      }
      if (script.failCreate !== undefined) throw internal(script.failCreate);
      if (this.tasks.has(req.id)) throw failedPrecondition(`task ${req.id} exists`);
      writeFileSync(
        join(req.bundle, 'fake-create-options'),
        JSON.stringify({
          typeUrl: req.options?.typeUrl ?? '',
          value: Buffer.from(req.options?.value ?? []).toString('base64'),
        }),
      );
      // As the runc shim does: `shim delete` reads the pid from here.
      writeFileSync(join(req.bundle, 'init.pid'), String(process.pid));
      this.tasks.set(req.id, newTask(req.bundle));
      return CreateTaskResponse.encode({ pid: process.pid }).finish();
    });
    server.register(SERVICE, 'Start', async (payload) => {
      const req = StartRequest.decode(payload);
      const t = this.task(req.id);
      if (t.status !== Status.CREATED) throw failedPrecondition(`task ${req.id} is not created`);
      t.status = Status.RUNNING;
      return StartResponse.encode({ pid: t.pid }).finish();
    });
    server.register(SERVICE, 'State', async (payload) => {
      const req = StateRequest.decode(payload);
      const t = this.task(req.id);
      return StateResponse.encode(
        StateResponse.fromPartial({
          id: req.id,
          bundle: t.bundle,
          pid: t.pid,
          status: t.status,
          exitStatus: t.exitStatus,
          ...(t.exitedAt !== undefined && { exitedAt: toTimestamp(t.exitedAt) }),
        }),
      ).finish();
    });
    server.register(SERVICE, 'Kill', async (payload) => {
      const req = KillRequest.decode(payload);
      const t = this.task(req.id);
      if (t.status === Status.STOPPED) throw notFound(`task ${req.id}: process already finished`);
      t.exit(128 + req.signal);
      return Empty.encode({}).finish();
    });
    server.register(SERVICE, 'Wait', async (payload, ctx) => {
      const req = WaitRequest.decode(payload);
      const t = this.task(req.id);
      await Promise.race([
        t.exited,
        new Promise((_, reject) =>
          ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)),
        ),
      ]);
      return WaitResponse.encode({
        exitStatus: t.exitStatus,
        exitedAt: toTimestamp(t.exitedAt ?? 0n),
      }).finish();
    });
    server.register(SERVICE, 'Delete', async (payload) => {
      const req = DeleteRequest.decode(payload);
      const t = this.task(req.id);
      if (t.status === Status.RUNNING) {
        throw failedPrecondition(`task ${req.id} must be stopped before deletion`);
      }
      this.tasks.delete(req.id);
      return DeleteResponse.encode({
        pid: t.pid,
        exitStatus: t.exitStatus,
        exitedAt: toTimestamp(t.exitedAt ?? nowNanos()),
      }).finish();
    });
    server.register(SERVICE, 'Connect', async (payload) => {
      const req = ConnectRequest.decode(payload);
      if (this.opts.script(req.id).dieOnConnect) {
        this.opts.die();
        throw internal('the shim is dying');
      }
      const t = this.tasks.get(req.id);
      return ConnectResponse.encode({
        shimPid: process.pid,
        taskPid: t?.pid ?? 0,
        version: 'fake',
      }).finish();
    });
    server.register(SERVICE, 'Shutdown', async (payload) => {
      ShutdownRequest.decode(payload);
      // As the runc shim: it exits only once it serves no task.
      if (this.tasks.size === 0) setImmediate(() => this.opts.exit());
      return Empty.encode({}).finish();
    });
  }

  private task(id: string): FakeTask {
    const t = this.tasks.get(id);
    if (!t) throw notFound(`task ${id} not found`);
    return t;
  }
}

function newTask(bundle: string): FakeTask {
  let settle = () => {};
  const exited = new Promise<void>((resolve) => {
    settle = resolve;
  });
  const t: FakeTask = {
    bundle,
    pid: process.pid,
    status: Status.CREATED,
    exitStatus: 0,
    exited,
    exit(status) {
      t.status = Status.STOPPED;
      t.exitStatus = status;
      t.exitedAt = nowNanos();
      settle();
    },
  };
  return t;
}
