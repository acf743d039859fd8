import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { Container, ContainerRecord, ContainerStore } from '../core/containers/index.js';
import { AUTO_REMOVE_LABEL, RestartLabels } from '../core/containers/index.js';
import { alreadyExists, notFound } from '../core/errdefs/index.js';
import type { AnyPayload, Envelope, Publisher, Subscriber } from '../core/events/index.js';
import { nullLogger } from '../core/log/index.js';
import type { Mount } from '../core/mount/index.js';
import type { OpContext } from '../core/namespaces/index.js';
import type { Snapshotter } from '../core/snapshots/index.js';
import type {
  CreateTaskOptions,
  Exit,
  ProcessState,
  Task,
  TaskManager,
} from '../core/tasks/index.js';
import { RestartMonitor, restartIO, type TaskExitEvent } from './monitor.js';

const NS = 'default';
const ROOTFS: Mount[] = [{ type: 'overlay', source: 'overlay', options: ['lowerdir=/l'] }];

class Records implements ContainerStore {
  readonly map = new Map<string, Container>();
  async get(_ctx: OpContext, id: string): Promise<Container> {
    const c = this.map.get(id);
    if (!c) throw notFound(`container "${id}"`);
    return structuredClone(c);
  }
  async list(): Promise<Container[]> {
    return [...this.map.values()].map((c) => structuredClone(c));
  }
  async create(_ctx: OpContext, r: ContainerRecord): Promise<Container> {
    const c = { ...r, createdAt: 1n, updatedAt: 1n };
    this.map.set(r.id, c);
    return c;
  }
  async update(_ctx: OpContext, r: ContainerRecord, paths?: readonly string[]): Promise<Container> {
    const c = this.map.get(r.id);
    if (!c) throw notFound(`container "${r.id}"`);
    for (const p of paths ?? []) {
      const key = p.slice('labels.'.length);
      const v = r.labels[key];
      if (v === undefined) delete c.labels[key];
      else c.labels[key] = v;
    }
    return structuredClone(c);
  }
  async delete(_ctx: OpContext, id: string): Promise<void> {
    if (!this.map.delete(id)) throw notFound(`container "${id}"`);
  }
}

class FakeTask {
  status: ProcessState['status'] = 'created';
  exitStatus = 0;
  constructor(
    readonly id: string,
    readonly pid: number,
    readonly opts: CreateTaskOptions,
  ) {}
  async state(): Promise<ProcessState> {
    return {
      id: this.id,
      pid: this.pid,
      status: this.status,
      exitStatus: this.exitStatus,
      exitedAt: this.status === 'stopped' ? BigInt(Date.now()) * 1_000_000n : 0n,
      stdin: '',
      stdout: this.opts.io.stdout,
      stderr: this.opts.io.stderr,
      terminal: false,
    };
  }
  async start(): Promise<number> {
    this.status = 'running';
    return this.pid;
  }
}

class Tasks implements TaskManager {
  readonly map = new Map<string, FakeTask>();
  readonly created: FakeTask[] = [];
  readonly deleted: string[] = [];
  #pid = 100;
  async create(_ctx: OpContext, id: string, opts: CreateTaskOptions) {
    if (this.map.has(id)) throw alreadyExists(`task ${id}`);
    const t = new FakeTask(id, ++this.#pid, opts);
    this.map.set(id, t);
    this.created.push(t);
    return { task: t as unknown as Task, pid: t.pid };
  }
  get(_ctx: OpContext, id: string): Task {
    const t = this.map.get(id);
    if (!t) throw notFound(`task ${id}`);
    return t as unknown as Task;
  }
  list(): Task[] {
    return [];
  }
  async delete(_ctx: OpContext, id: string): Promise<Exit> {
    const t = this.map.get(id);
    if (!t) throw notFound(`task ${id}`);
    this.map.delete(id);
    this.deleted.push(id);
    return { pid: t.pid, status: t.exitStatus, exitedAt: 1n };
  }
  /** The task exits; answers the event its shim would publish. */
  exit(id: string, status: number): Envelope {
    const t = this.map.get(id);
    assert.ok(t, id);
    t.status = 'stopped';
    t.exitStatus = status;
    return exitEnvelope({ containerId: id, id, exitStatus: status });
  }
}

const text = (s: string): AnyPayload => ({ typeUrl: 'test', value: new TextEncoder().encode(s) });

function exitEnvelope(e: TaskExitEvent): Envelope {
  return {
    timestamp: 0n,
    namespace: NS,
    topic: '/tasks/exit',
    event: { typeUrl: 'test.TaskExit', value: new TextEncoder().encode(JSON.stringify(e)) },
  };
}

/** Envelopes pushed by the test, to whoever subscribed. */
class Events implements Subscriber, Publisher {
  readonly published: string[] = [];
  async publish(_ctx: OpContext, topic: string, event: AnyPayload): Promise<void> {
    this.published.push(`${topic} ${new TextDecoder().decode(event.value)}`);
  }
  #waiting: ((e: Envelope) => void)[] = [];
  #queue: Envelope[] = [];
  subscribed = false;
  push(e: Envelope): void {
    const w = this.#waiting.shift();
    if (w) w(e);
    else this.#queue.push(e);
  }
  async *subscribe(ctx: OpContext): AsyncIterable<Envelope> {
    this.subscribed = true;
    while (!ctx.signal.aborted) {
      const next = this.#queue.shift();
      if (next) {
        yield next;
        continue;
      }
      const e = await new Promise<Envelope | undefined>((resolve) => {
        this.#waiting.push(resolve);
        ctx.signal.addEventListener('abort', () => resolve(undefined), { once: true });
      });
      if (e) yield e;
    }
  }
}

const removedSnapshots: string[] = [];
const snapshotter = {
  mounts: async () => ROOTFS,
  remove: async (_ctx: OpContext, key: string) => {
    removedSnapshots.push(key);
  },
} as unknown as Snapshotter;

function record(id: string, labels: Record<string, string>): ContainerRecord {
  return {
    id,
    labels,
    image: 'busybox',
    runtime: { name: 'io.containerd.runc.v2' },
    spec: {
      typeUrl: 'types.containerd.io/opencontainers/runtime-spec/1/Spec',
      value: new TextEncoder().encode('{"process":{}}'),
    },
    snapshotter: 'overlayfs',
    snapshotKey: `${id}-snap`,
    sandbox: '',
    extensions: {},
  };
}

async function waitFor(what: string, cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const ctx: OpContext = { namespace: NS, signal: new AbortController().signal, log: nullLogger };
let monitor: RestartMonitor | undefined;

async function setup() {
  const records = new Records();
  const tasks = new Tasks();
  const events = new Events();
  removedSnapshots.length = 0;
  monitor = new RestartMonitor({
    namespaces: { list: () => [{ name: NS }] },
    containers: records,
    snapshotters: new Map([['overlayfs', snapshotter]]),
    tasks,
    events,
    codec: {
      decodeTaskExit: (e: AnyPayload) => JSON.parse(new TextDecoder().decode(e.value)),
      containerUpdate: (c) => text(`${c.id} ${c.labels[RestartLabels.count]}`),
      containerDelete: (id) => text(id),
      snapshotRemove: (key) => text(key),
    },
    intervalMs: 60_000,
    log: nullLogger,
  });
  return { records, tasks, events, m: monitor };
}

/** A container whose task is running, as `ctr run -d` leaves it. */
async function running(
  s: Awaited<ReturnType<typeof setup>>,
  id: string,
  labels: Record<string, string>,
) {
  await s.records.create(ctx, record(id, labels));
  const { task } = await s.tasks.create(ctx, id, {
    spec: record(id, {}).spec as NonNullable<ContainerRecord['spec']>,
    runtime: 'io.containerd.runc.v2',
    rootfs: ROOTFS,
    io: { stdin: '', stdout: '', stderr: '', terminal: false },
  });
  await task.start(ctx);
}

afterEach(async () => {
  await monitor?.close();
  monitor = undefined;
});

describe('RestartMonitor', () => {
  it('restarts an exited init process at once: count label, rootfs from the snapshot, the log URI', async () => {
    const s = await setup();
    await running(s, 'c1', {
      [RestartLabels.status]: 'running',
      [RestartLabels.policy]: 'always',
      [RestartLabels.logURI]: 'binary:///usr/bin/logger?x=1',
    });
    s.m.start();
    await waitFor('the subscription', () => s.events.subscribed);
    s.events.push(s.tasks.exit('c1', 137));
    await waitFor('a new task', () => s.tasks.created.length === 2);
    const t = s.tasks.created[1];
    await waitFor('it to start', () => t?.status === 'running');
    assert.deepEqual(s.tasks.deleted, ['c1']);
    assert.deepEqual(t?.opts.rootfs, ROOTFS);
    assert.equal(t?.opts.runtime, 'io.containerd.runc.v2');
    assert.equal(t?.opts.io.stdout, 'binary:///usr/bin/logger?x=1');
    assert.equal(t?.opts.io.stderr, 'binary:///usr/bin/logger?x=1');
    assert.equal((await s.records.get(ctx, 'c1')).labels[RestartLabels.count], '1');
    assert.deepEqual(s.events.published, ['/containers/update c1 1']);
  });

  it('ignores exits of execs', async () => {
    const s = await setup();
    await running(s, 'c1', { [RestartLabels.status]: 'running' });
    s.m.start();
    await waitFor('the subscription', () => s.events.subscribed);
    s.tasks.exit('c1', 1);
    s.events.push(exitEnvelope({ containerId: 'c1', id: 'exec-1', exitStatus: 1 }));
    // The exec's exit is skipped; the init's, pushed after it, is acted on.
    s.events.push(exitEnvelope({ containerId: 'c1', id: 'c1', exitStatus: 1 }));
    await waitFor('one restart', () => s.tasks.created.length === 2);
    assert.equal((await s.records.get(ctx, 'c1')).labels[RestartLabels.count], '1');
  });

  it('honours a stop set while the restart waits out its backoff', async () => {
    const s = await setup();
    await running(s, 'c1', { [RestartLabels.status]: 'running', [RestartLabels.policy]: 'always' });
    s.m.start();
    await waitFor('the subscription', () => s.events.subscribed);
    s.events.push(s.tasks.exit('c1', 0));
    // The check runs at once and schedules the restart 100 ms later; the client stops it now.
    await new Promise((r) => setTimeout(r, 20));
    await s.records.update(ctx, { ...record('c1', { [RestartLabels.status]: 'stopped' }) }, [
      `labels.${RestartLabels.status}`,
    ]);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(s.tasks.created.length, 1);
    assert.equal(s.tasks.map.get('c1')?.status, 'stopped');
    assert.equal((await s.records.get(ctx, 'c1')).labels[RestartLabels.count], undefined);
  });

  it('starts, at startup, a container whose task stopped meanwhile', async () => {
    const s = await setup();
    await running(s, 'c1', {
      [RestartLabels.status]: 'running',
      [RestartLabels.policy]: 'unless-stopped',
    });
    await running(s, 'c2', {
      [RestartLabels.status]: 'running',
      [RestartLabels.policy]: 'unless-stopped',
      [RestartLabels.explicitlyStopped]: 'true',
    });
    s.tasks.exit('c1', 137);
    s.tasks.exit('c2', 137);
    s.m.start();
    await waitFor('c1 to run again', () => s.tasks.map.get('c1')?.status === 'running');
    assert.equal(s.tasks.map.get('c2')?.status, 'stopped');
    assert.deepEqual(s.tasks.deleted, ['c1']);
  });

  it("at startup, runs an always container the user stopped again (docker's rule), not unless-stopped, nor a stop set through ctr", async () => {
    const s = await setup();
    const stopped = (policy: string, explicit: boolean) => ({
      [RestartLabels.status]: 'stopped',
      [RestartLabels.policy]: policy,
      ...(explicit && { [RestartLabels.explicitlyStopped]: 'true' }),
    });
    await running(s, 'always', stopped('always', true));
    await running(s, 'unless', stopped('unless-stopped', true));
    await running(s, 'ctr', stopped('always', false));
    for (const id of ['always', 'unless', 'ctr']) s.tasks.exit(id, 143);
    s.m.start();
    await waitFor('always to run again', () => s.tasks.map.get('always')?.status === 'running');
    const labels = (await s.records.get(ctx, 'always')).labels;
    assert.equal(labels[RestartLabels.status], 'running');
    assert.equal(labels[RestartLabels.explicitlyStopped], undefined);
    await s.m.reconcile();
    assert.equal(s.tasks.map.get('unless')?.status, 'stopped');
    assert.equal(s.tasks.map.get('ctr')?.status, 'stopped');
    assert.deepEqual(s.tasks.deleted, ['always']);
  });

  it('auto-removes a container whose task stopped, never one without a task', async () => {
    const s = await setup();
    await running(s, 'gone', { [AUTO_REMOVE_LABEL]: 'true' });
    await s.records.create(ctx, record('fresh', { [AUTO_REMOVE_LABEL]: 'true' }));
    s.m.start();
    await waitFor('the subscription', () => s.events.subscribed);
    s.events.push(s.tasks.exit('gone', 0));
    await waitFor('the record to go', () => !s.records.map.has('gone'));
    assert.deepEqual(s.tasks.deleted, ['gone']);
    assert.deepEqual(removedSnapshots, ['gone-snap']);
    assert.deepEqual(s.events.published, ['/snapshot/remove gone-snap', '/containers/delete gone']);
    await s.m.reconcile();
    assert.ok(s.records.map.has('fresh'), 'a record whose task is not created yet stays');
  });

  it('on-failure:1 with auto-remove: restarts once, then removes', async () => {
    const s = await setup();
    await running(s, 'c1', {
      [RestartLabels.status]: 'running',
      [RestartLabels.policy]: 'on-failure:1',
      [AUTO_REMOVE_LABEL]: 'true',
    });
    s.m.start();
    await waitFor('the subscription', () => s.events.subscribed);
    s.events.push(s.tasks.exit('c1', 2));
    await waitFor(
      'the restart',
      () => s.tasks.created.length === 2 && s.tasks.created[1]?.status === 'running',
    );
    s.events.push(s.tasks.exit('c1', 2));
    await waitFor('the removal', () => !s.records.map.has('c1'));
    assert.equal(s.tasks.created.length, 2);
  });
});

describe('restartIO', () => {
  const spec = (terminal: boolean) => ({
    typeUrl: 'x',
    value: new TextEncoder().encode(JSON.stringify({ process: { terminal } })),
  });
  it('uses the log URI, else file://<logpath>, else no IO; terminal from the spec', () => {
    assert.deepEqual(
      restartIO({ labels: { [RestartLabels.logURI]: 'file:///l' }, spec: spec(false) }),
      {
        stdin: '',
        stdout: 'file:///l',
        stderr: 'file:///l',
        terminal: false,
      },
    );
    assert.equal(
      restartIO({ labels: { [RestartLabels.logPath]: '/var/log/c' } }).stdout,
      'file:///var/log/c',
    );
    assert.equal(
      restartIO({
        labels: { [RestartLabels.logURI]: 'binary:///b', [RestartLabels.logPath]: '/p' },
      }).stdout,
      'binary:///b',
    );
    assert.equal(restartIO({ labels: {} }).stdout, '');
    assert.equal(restartIO({ labels: {}, spec: spec(true) }).terminal, true);
  });
});
