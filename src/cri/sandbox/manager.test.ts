import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, beforeEach, describe, test } from 'node:test';
import { type TempDir, tempDir } from '../../../test/helpers/tmp.js';
import {
  NamespaceMode,
  PodSandboxConfig,
  PodSandboxState,
} from '../../api/k8s/cri/runtime/v1/api.js';
import type { Container, ContainerRecord, ContainerStore } from '../../core/containers/index.js';
import { isAlreadyExists, isNotFound, notFound } from '../../core/errdefs/index.js';
import type { LeaseManager } from '../../core/leases/index.js';
import { nullLogger } from '../../core/log/index.js';
import type { OpContext } from '../../core/namespaces/index.js';
import type { Snapshotter } from '../../core/snapshots/index.js';
import type { CreateTaskOptions, Exit, Task, TaskManager } from '../../core/tasks/index.js';
import type { SpecOptions } from '../opts/index.js';
import { CRI_NAMESPACE, SandboxManager } from './manager.js';

/** A pod on the host's network and IPC: no netns, no shm mount, so no root needed. */
const hostPod = (name: string) =>
  PodSandboxConfig.fromPartial({
    metadata: { name, namespace: 'ns', uid: `uid-${name}`, attempt: 0 },
    labels: { app: name },
    linux: {
      securityContext: {
        namespaceOptions: { network: NamespaceMode.NODE, ipc: NamespaceMode.NODE },
      },
    },
  });

class FakeRecords implements ContainerStore {
  readonly items = new Map<string, Container>();
  async get(_ctx: OpContext, id: string) {
    const c = this.items.get(id);
    if (!c) throw notFound(`container ${id}`);
    return c;
  }
  async list() {
    return [...this.items.values()];
  }
  async create(_ctx: OpContext, r: ContainerRecord) {
    const c = { ...r, createdAt: 42n, updatedAt: 42n };
    this.items.set(r.id, c);
    return c;
  }
  async update(ctx: OpContext, r: ContainerRecord) {
    return this.create(ctx, r);
  }
  async delete(_ctx: OpContext, id: string) {
    if (!this.items.delete(id)) throw notFound(`container ${id}`);
  }
}

class FakeTask implements Partial<Task> {
  status: 'created' | 'running' | 'stopped' = 'created';
  private exited!: (e: Exit) => void;
  readonly done = new Promise<Exit>((r) => {
    this.exited = r;
  });
  constructor(
    readonly id: string,
    private readonly failStart: boolean,
  ) {}
  async start() {
    if (this.failStart) throw new Error('runc: exec: "/pause": permission denied');
    this.status = 'running';
    return 1234;
  }
  async kill() {
    this.exit();
  }
  exit() {
    this.status = 'stopped';
    this.exited({ pid: 1234, status: 137, exitedAt: 1n });
  }
  wait() {
    return this.done;
  }
  async state() {
    return {
      id: this.id,
      pid: this.status === 'stopped' ? 0 : 1234,
      status: this.status,
      exitStatus: 0,
      exitedAt: 0n,
      stdin: '',
      stdout: '',
      stderr: '',
      terminal: false,
    };
  }
}

class FakeTasks implements TaskManager {
  readonly tasks = new Map<string, FakeTask>();
  failStart = false;
  created: CreateTaskOptions[] = [];
  async create(_ctx: OpContext, id: string, opts: CreateTaskOptions) {
    this.created.push(opts);
    const t = new FakeTask(id, this.failStart);
    this.tasks.set(id, t);
    return { task: t as unknown as Task, pid: 1234 };
  }
  get(_ctx: OpContext, id: string) {
    const t = this.tasks.get(id);
    if (!t) throw notFound(`task ${id}`);
    return t as unknown as Task;
  }
  list() {
    return [...this.tasks.values()] as unknown as Task[];
  }
  async delete(_ctx: OpContext, id: string) {
    if (!this.tasks.delete(id)) throw notFound(`task ${id}`);
    return { pid: 1234, status: 137, exitedAt: 1n };
  }
}

describe('SandboxManager (fakes, host network and IPC)', () => {
  let dir: TempDir;
  let records: FakeRecords;
  let tasks: FakeTasks;
  let snapshots: Set<string>;
  let leases: Set<string>;
  const ctx: OpContext = {
    namespace: CRI_NAMESPACE,
    signal: new AbortController().signal,
    log: nullLogger,
  };
  const dirs: TempDir[] = [];

  const manager = () => {
    const snapshotter = {
      async prepare(_c: OpContext, key: string) {
        snapshots.add(key);
        return [{ type: 'bind', source: `/snap/${key}`, options: ['rbind'] }];
      },
      async remove(_c: OpContext, key: string) {
        if (!snapshots.delete(key)) throw notFound(`snapshot ${key}`);
      },
    } as unknown as Snapshotter;
    const leaseManager = {
      async create(_c: OpContext, l: { id: string }) {
        leases.add(l.id);
        return { id: l.id, createdAt: 0n, labels: {} };
      },
      async delete(_c: OpContext, id: string) {
        leases.delete(id);
      },
    } as unknown as LeaseManager;
    return new SandboxManager({
      runtime: (h) => {
        if (h !== '' && h !== 'runc') throw notFound(`no runtime for "${h}" is configured`);
        return { type: 'io.containerd.runc.v2' };
      },
      containers: records,
      snapshotter,
      snapshotterName: 'overlayfs',
      tasks,
      leases: leaseManager,
      images: {
        async ensure() {
          return {
            name: 'registry.k8s.io/pause:3.6',
            id: 'sha256:abc',
            chainId: 'sha256:chain',
            config: { Entrypoint: ['/pause'], User: '65535:65535' },
            labels: { 'image.label': 'x' },
          };
        },
      },
      network: undefined,
      rootDir: join(dir.path, 'root'),
      stateDir: join(dir.path, 'state'),
      sandboxImage: 'registry.k8s.io/pause:3.6',
      specOptions: { daemonCapabilities: [], cgroupV2: false } as SpecOptions,
      log: nullLogger,
    });
  };

  beforeEach(() => {
    dir = tempDir('berth-sandbox-');
    dirs.push(dir);
    records = new FakeRecords();
    tasks = new FakeTasks();
    snapshots = new Set();
    leases = new Set();
  });
  after(() => {
    for (const d of dirs) d.remove();
  });

  test('run: record, snapshot, task; status and list; stop and remove are idempotent', async () => {
    const m = manager();
    const id = await m.run(ctx, hostPod('a'), '');
    const rec = records.items.get(id);
    assert.equal(rec?.labels['io.cri-containerd.kind'], 'sandbox');
    assert.equal(rec?.labels.app, 'a');
    assert.equal(rec?.image, 'registry.k8s.io/pause:3.6');
    assert.deepEqual([...snapshots], [id]);
    assert.deepEqual([...leases], [], 'the snapshot lease is gone once the record names it');
    assert.equal(tasks.created[0]?.runtime, 'io.containerd.runc.v2');
    const { status, info } = await m.status(ctx, id.slice(0, 8), true);
    assert.equal(status.state, PodSandboxState.SANDBOX_READY);
    assert.equal(status.createdAt, 42n);
    assert.equal(JSON.parse(info.info as string).pid, 1234);
    assert.deepEqual(
      m.list(undefined).map((s) => s.id),
      [id],
    );
    await m.stop(ctx, id);
    assert.equal((await m.status(ctx, id, false)).status.state, PodSandboxState.SANDBOX_NOTREADY);
    assert.equal(tasks.tasks.size, 0, 'the pause task is deleted');
    await m.stop(ctx, id);
    await m.remove(ctx, id);
    await m.remove(ctx, id);
    assert.equal(records.items.size, 0);
    assert.equal(snapshots.size, 0);
    assert.equal(existsSync(join(dir.path, 'root', 'sandboxes', id)), false);
    await assert.rejects(m.status(ctx, id, false), isNotFound);
    // The name is free again.
    await m.run(ctx, hostPod('a'), 'runc');
  });

  test('a duplicate name is already_exists naming the holder; an unknown handler not_found', async () => {
    const m = manager();
    const id = await m.run(ctx, hostPod('a'), '');
    await assert.rejects(
      m.run(ctx, hostPod('a'), ''),
      (err: Error) => isAlreadyExists(err) && err.message.includes(`reserved for "${id}"`),
    );
    await assert.rejects(m.run(ctx, hostPod('b'), 'kata'), isNotFound);
    await assert.rejects(m.run(ctx, PodSandboxConfig.fromPartial({}), ''), /must include metadata/);
  });

  test('a task that fails to start is undone with everything before it', async () => {
    const m = manager();
    tasks.failStart = true;
    await assert.rejects(
      m.run(ctx, hostPod('a'), ''),
      /failed to start sandbox container task .*permission denied/,
    );
    assert.equal(tasks.tasks.size, 0, 'task deleted');
    assert.equal(records.items.size, 0, 'record deleted');
    assert.equal(snapshots.size, 0, 'snapshot removed');
    assert.deepEqual(leases, new Set());
    assert.deepEqual(readdirSync(join(dir.path, 'root', 'sandboxes')), []);
    assert.deepEqual(readdirSync(join(dir.path, 'state', 'sandboxes')), []);
    assert.deepEqual(m.list(undefined), []);
    tasks.failStart = false;
    await m.run(ctx, hostPod('a'), '');
  });

  test('the pause exiting makes the pod NOTREADY', async () => {
    const m = manager();
    const id = await m.run(ctx, hostPod('a'), '');
    tasks.tasks.get(id)?.exit();
    for (let i = 0; i < 50 && m.store.sandbox(id).status.state === 'ready'; i++) {
      await new Promise((r) => setImmediate(r));
    }
    assert.equal(m.store.get(id).state, 'notready');
    assert.equal(m.store.get(id).pid, 0);
  });

  test('recovery: READY with a running task, NOTREADY without, names reserved again', async () => {
    const first = manager();
    const running = await first.run(ctx, hostPod('a'), '');
    const gone = await first.run(ctx, hostPod('b'), '');
    tasks.tasks.delete(gone);
    const m = manager();
    await m.recover();
    assert.equal(m.store.get(running).state, 'ready');
    assert.equal(m.store.get(running).pid, 1234);
    assert.equal(m.store.get(gone).state, 'notready');
    await assert.rejects(m.run(ctx, hostPod('a'), ''), isAlreadyExists);
    assert.deepEqual(
      m
        .list({ id: '', state: { state: PodSandboxState.SANDBOX_READY }, labelSelector: {} })
        .map((s) => s.id),
      [running],
    );
  });

  test('recovery removes what an interrupted RunPodSandbox left (dirs, lease, stray netns files)', {
    // umount2 on what is not a mount answers EPERM, not EINVAL, without CAP_SYS_ADMIN.
    skip: process.getuid?.() !== 0 ? 'needs root' : false,
  }, async () => {
    const first = manager();
    const kept = await first.run(ctx, hostPod('a'), '');
    const orphan = 'f'.repeat(64);
    for (const d of ['root', 'state'])
      mkdirSync(join(dir.path, d, 'sandboxes', orphan), { recursive: true });
    writeFileSync(join(dir.path, 'root', 'sandboxes', orphan, 'hostname'), 'x\n');
    leases.add(`cri-sandbox-${orphan}`);
    mkdirSync(join(dir.path, 'state', 'netns'), { recursive: true });
    writeFileSync(join(dir.path, 'state', 'netns', 'cni-stray'), '');
    const m = manager();
    await m.recover();
    assert.deepEqual(readdirSync(join(dir.path, 'root', 'sandboxes')), [kept]);
    assert.deepEqual(readdirSync(join(dir.path, 'state', 'sandboxes')), [kept]);
    assert.deepEqual(readdirSync(join(dir.path, 'state', 'netns')), []);
    assert.equal(leases.has(`cri-sandbox-${orphan}`), false);
    assert.equal(m.store.get(kept).state, 'ready');
  });
});
