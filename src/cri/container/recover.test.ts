import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, beforeEach, describe, it } from 'node:test';
import { ContainerConfig, ContainerState } from '../../api/k8s/cri/runtime/v1/api.js';
import { isAlreadyExists, notFound } from '../../core/errdefs/index.js';
import { nullLogger } from '../../core/log/index.js';
import type { OpContext } from '../../core/namespaces/index.js';
import type {
  Exit,
  ProcessState,
  ProcessStatus,
  Task,
  TaskManager,
} from '../../core/tasks/index.js';
import { MetadataDB, SqliteContainerStore } from '../../metadata/index.js';
import { realSpecHost } from '../opts/index.js';
import {
  CONTAINER_KIND_LABEL,
  type ContainerMetadata,
  encodeMetadata,
  SPEC_TYPE_URL,
} from './metadata.js';
import { ContainerService, K8S_NAMESPACE } from './service.js';
import { encodeStatus, newStatus } from './status.js';

/**
 * Recovery after a restart, without root: container records and status
 * files as a previous berthd left them, and a task manager double that
 * says which tasks outlived it and how they are.
 */
class FakeTask {
  readonly namespace = K8S_NAMESPACE;
  readonly runtime = 'io.containerd.runc.v2';
  killed: number[] = [];
  private resolveExit!: (e: Exit) => void;
  readonly exited: Promise<Exit>;

  constructor(
    readonly id: string,
    public status: ProcessStatus,
    readonly pid: number,
    public exit?: Exit,
  ) {
    this.exited = new Promise((r) => {
      this.resolveExit = r;
    });
    if (exit) this.resolveExit(exit);
  }

  end(e: Exit): void {
    this.status = 'stopped';
    this.exit = e;
    this.resolveExit(e);
  }

  async state(): Promise<ProcessState> {
    return {
      id: this.id,
      pid: this.pid,
      status: this.status,
      exitStatus: this.exit?.status ?? 0,
      exitedAt: this.exit?.exitedAt ?? 0n,
      stdin: '',
      stdout: '',
      stderr: '',
      terminal: false,
    };
  }

  wait(ctx: OpContext): Promise<Exit> {
    return new Promise((resolve, reject) => {
      ctx.signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true });
      void this.exited.then(resolve);
    });
  }

  async kill(_ctx: OpContext, signal: number): Promise<void> {
    this.killed.push(signal);
    if (signal === 9) this.end({ pid: this.pid, status: 137, exitedAt: 1n });
  }
}

class FakeTasks {
  readonly tasks = new Map<string, FakeTask>();
  readonly deleted: string[] = [];

  get(_ctx: OpContext, id: string): Task {
    const t = this.tasks.get(id);
    if (!t) throw notFound(`task ${id}`);
    return t as unknown as Task;
  }

  list(): Task[] {
    return [...this.tasks.values()] as unknown as Task[];
  }

  async delete(_ctx: OpContext, id: string): Promise<Exit> {
    const t = this.tasks.get(id);
    if (!t) throw notFound(`task ${id}`);
    this.tasks.delete(id);
    this.deleted.push(id);
    return t.exit ?? { pid: 0, status: 0, exitedAt: 0n };
  }

  async create(): Promise<never> {
    throw new Error('not in this test');
  }
}

describe('ContainerService recovery', () => {
  const dirs: string[] = [];
  let dir: string;
  let mdb: MetadataDB;
  let records: SqliteContainerStore;
  let tasks: FakeTasks;
  const services: ContainerService[] = [];
  const ctx: OpContext = {
    namespace: K8S_NAMESPACE,
    signal: new AbortController().signal,
    log: nullLogger,
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'berth-cri-recover-'));
    dirs.push(dir);
    mdb = new MetadataDB({ path: join(dir, 'meta.db') });
    records = new SqliteContainerStore(mdb);
    tasks = new FakeTasks();
  });
  after(async () => {
    for (const s of services) await s.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  const service = async () => {
    const s = new ContainerService({
      rootDir: join(dir, 'root'),
      stateDir: join(dir, 'state'),
      records,
      snapshotters: new Map(),
      tasks: tasks as unknown as TaskManager,
      sandboxes: {
        get: (id) => {
          throw notFound(`sandbox ${id}`);
        },
      },
      images: {
        resolve: async (_ctx, ref) => {
          throw notFound(`image ${ref}`);
        },
      },
      spec: { options: { daemonCapabilities: [], cgroupV2: false }, host: realSpecHost },
      snapshotter: 'overlayfs',
      // No shim here ever ends the FIFOs' output.
      outputDrainMs: 50,
      log: nullLogger,
    });
    services.push(s);
    await s.recover(ctx);
    return s;
  };

  /** A container as a previous berthd left it: its record, and its status file unless `status` is null. */
  const leave = async (
    id: string,
    status: Parameters<typeof newStatus>[0] | null,
    config: Partial<ContainerConfig> = {},
  ) => {
    const meta: ContainerMetadata = {
      id,
      name: `${id}_pod_ns_uid_0`,
      sandboxId: 'sb',
      config: ContainerConfig.fromPartial({ metadata: { name: id, attempt: 0 }, ...config }),
      imageRef: 'sha256:img',
      logPath: join(dir, 'logs', `${id}.log`),
      stopSignal: '',
    };
    mkdirSync(join(dir, 'logs'), { recursive: true });
    await records.create(ctx, {
      id,
      labels: { [CONTAINER_KIND_LABEL]: 'container' },
      image: 'busybox',
      runtime: { name: 'io.containerd.runc.v2' },
      spec: { typeUrl: SPEC_TYPE_URL, value: Buffer.from('{"process":{"args":["sh"]}}') },
      snapshotter: 'overlayfs',
      snapshotKey: id,
      sandbox: '',
      extensions: { 'io.cri-containerd.container.metadata': encodeMetadata(meta) },
    });
    const root = join(dir, 'root', 'containers', id);
    mkdirSync(root, { recursive: true });
    if (status) writeFileSync(join(root, 'status'), encodeStatus(newStatus(status)));
  };

  const state = async (s: ContainerService, id: string) =>
    (await s.containerStatus(ctx, { containerId: id, verbose: false })).status!;

  it('a running container whose task vanished is exited 255 Unknown', async () => {
    await leave('gone', { createdAt: 1n, startedAt: 2n, pid: 42 });
    const s = await service();
    const st = await state(s, 'gone');
    assert.equal(st.state, ContainerState.CONTAINER_EXITED);
    assert.equal(st.exitCode, 255);
    assert.equal(st.reason, 'Unknown');
    assert.ok(st.finishedAt > 2n);
  });

  it('a task that ended meanwhile gives its exit, and is deleted', async () => {
    await leave('ended', { createdAt: 1n, startedAt: 2n, pid: 42 });
    tasks.tasks.set(
      'ended',
      new FakeTask('ended', 'stopped', 42, { pid: 42, status: 137, exitedAt: 77n }),
    );
    const s = await service();
    const st = await state(s, 'ended');
    assert.equal(st.state, ContainerState.CONTAINER_EXITED);
    assert.equal(st.exitCode, 137);
    assert.equal(st.finishedAt, 77n);
    assert.deepEqual(tasks.deleted, ['ended']);
  });

  it('a running task is watched again: its exit is recorded and the task deleted', async () => {
    await leave('runs', { createdAt: 1n, startedAt: 2n, pid: 42 }, { logPath: 'runs.log' });
    const task = new FakeTask('runs', 'running', 42);
    tasks.tasks.set('runs', task);
    const s = await service();
    assert.equal((await state(s, 'runs')).state, ContainerState.CONTAINER_RUNNING);
    assert.ok(existsSync(join(dir, 'state', 'containers', 'runs', 'io')), 'its FIFOs are back');
    task.end({ pid: 42, status: 3, exitedAt: 99n });
    await s.store.get('runs').stopped;
    const st = await state(s, 'runs');
    assert.equal(st.state, ContainerState.CONTAINER_EXITED);
    assert.equal(st.exitCode, 3);
    assert.equal(st.reason, 'Error');
    assert.deepEqual(tasks.deleted, ['runs']);
  });

  it('an unreadable status is UNKNOWN until stopped, then exited 255; a created one stays created', async () => {
    await leave('lost', null);
    await leave('fresh', { createdAt: 5n });
    const s = await service();
    assert.equal((await state(s, 'lost')).state, ContainerState.CONTAINER_UNKNOWN);
    await s.stopContainer(ctx, { containerId: 'lost', timeout: 0n });
    const st = await state(s, 'lost');
    assert.equal(st.state, ContainerState.CONTAINER_EXITED);
    assert.equal(st.exitCode, 255);
    const fresh = await state(s, 'fresh');
    assert.equal(fresh.state, ContainerState.CONTAINER_CREATED);
    assert.equal(fresh.createdAt, 5n);
    assert.ok(s.store.get('fresh').io, 'a created container gets its IO again');
  });

  it('reserves names again, skips records without metadata, removes orphaned directories', async () => {
    await leave('named', { createdAt: 1n });
    await records.create(ctx, {
      id: 'foreign',
      labels: { [CONTAINER_KIND_LABEL]: 'container' },
      image: '',
      runtime: { name: 'io.containerd.runc.v2' },
      spec: { typeUrl: SPEC_TYPE_URL, value: Buffer.from('{}') },
      snapshotter: '',
      snapshotKey: '',
      sandbox: '',
      extensions: {},
    });
    mkdirSync(join(dir, 'root', 'containers', 'orphan'), { recursive: true });
    mkdirSync(join(dir, 'state', 'containers', 'orphan', 'io'), { recursive: true });
    const s = await service();
    assert.throws(() => s.names.reserve('named_pod_ns_uid_0', 'other'), isAlreadyExists);
    assert.deepEqual(
      s.store.list().map((c) => c.id),
      ['named'],
    );
    assert.equal(existsSync(join(dir, 'root', 'containers', 'orphan')), false);
    assert.equal(existsSync(join(dir, 'state', 'containers', 'orphan')), false);
  });

  it('stops a running container with its signal, then SIGKILL after the timeout', async () => {
    await leave('stubborn', { createdAt: 1n, startedAt: 2n, pid: 42 });
    const task = new FakeTask('stubborn', 'running', 42);
    tasks.tasks.set('stubborn', task);
    const s = await service();
    const t0 = Date.now();
    await s.stopContainer(ctx, { containerId: 'stubborn', timeout: 1n });
    assert.ok(Date.now() - t0 >= 1000);
    assert.deepEqual(task.killed, [15, 9]);
    assert.equal((await state(s, 'stubborn')).exitCode, 137);
    // Stopped already: nothing more is sent.
    await s.stopContainer(ctx, { containerId: 'stubborn', timeout: 1n });
    assert.deepEqual(task.killed, [15, 9]);
  });
});
