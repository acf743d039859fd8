import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { mountsUnder, waitFor } from '../../../test/helpers/daemon.js';
import { RuncOptions } from '../../api/containerd/linux/runc/runc.js';
import { type Logger, nullLogger } from '../../core/log/index.js';
import type { OpContext } from '../../core/namespaces/index.js';
import type { Exit, Task } from '../../core/tasks/index.js';
import type { TtrpcServer } from '../../ttrpc/index.js';
import type { RuntimeEvents, ShimManager } from './manager.js';
import type { ShimTask } from './shim-task.js';
import {
  busyboxRootfs,
  listenForwardedEvents,
  cgroupMemoryLimit as memoryLimit,
  realShimSkip,
  removeShimTestDir,
  runcDefaultSpec,
  shimManagerIn,
  stopShims,
} from './testing/real-shim.js';

/**
 * The runtime manager against the real containerd-shim-runc-v2 and runc:
 * a task's whole life, reconnecting after a "restart" (a second manager on
 * the same state), and a shim that dies. Root only.
 */

describe('ShimManager with the real runc shim', {
  skip: realShimSkip(),
}, () => {
  let dir: string;
  let rootfs: string;
  let spec: (args: string[], annotations?: Record<string, string>) => Buffer;
  let events: TtrpcServer;
  const topics: string[] = [];
  const managers: ShimManager[] = [];
  const ctx: OpContext = {
    namespace: 'berth-test',
    signal: new AbortController().signal,
    log: nullLogger,
  };
  const exits: Exit[] = [];

  const manager = async (): Promise<ShimManager> => {
    const sink: RuntimeEvents = {
      taskExit: (_ns, e) => exits.push(e),
      taskDelete: () => {},
    };
    const m = await shimManagerIn(dir, {
      events: sink,
      log: process.env.BERTH_TEST_LOG ? consoleLogger : nullLogger,
    });
    managers.push(m);
    return m;
  };

  const createWithPid = (
    m: ShimManager,
    id: string,
    args: string[],
    stdout = '',
    annotations?: Record<string, string>,
  ) =>
    m.create(ctx, id, {
      spec: {
        typeUrl: 'types.containerd.io/opencontainers/runtime-spec/1/Spec',
        value: spec(args, annotations),
      },
      runtime: 'io.containerd.runc.v2',
      rootfs: [{ type: 'bind', source: rootfs, options: ['rbind', 'ro'] }],
      // The 1.6 shim needs stderr whenever stdout is a file:// URI (it panics otherwise).
      io: { stdin: '', stdout, stderr: stdout && `${stdout}.err`, terminal: false },
    });
  const create = (...args: Parameters<typeof createWithPid>) =>
    createWithPid(...args).then((r) => r.task);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'berth-runtime-'));
    rootfs = join(dir, 'rootfs');
    busyboxRootfs(rootfs, ['sh', 'sleep', 'echo', 'true']);
    // runc's default spec, with our process.
    const base = runcDefaultSpec(dir);
    spec = (args, annotations) => {
      const s = structuredClone(base);
      s.process.args = args;
      if (annotations) s.annotations = annotations;
      s.process.terminal = false;
      s.root = { path: 'rootfs', readonly: true };
      return Buffer.from(JSON.stringify(s));
    };
    events = await listenForwardedEvents(dir, (topic) => topics.push(topic));
  });

  after(async () => {
    await stopShims(ctx, dir, managers);
    await events.close();
    removeShimTestDir(dir);
  });

  it('runs a task from create to delete, with an exec, and leaves nothing behind', async () => {
    const m = await manager();
    const out = join(dir, 'out.log');
    const created = await createWithPid(m, 't1', ['sleep', '1000'], `file://${out}`);
    const task = created.task;
    const state = await task.state(ctx);
    assert.equal(state.status, 'created');
    assert.ok(created.pid > 0);
    assert.equal(created.pid, state.pid);
    const pid = await task.start(ctx);
    assert.equal(pid, created.pid);
    assert.equal((await task.state(ctx)).status, 'running');
    // runc start returns once it told runc init to exec; the exec itself
    // may come a moment later on a busy machine.
    await waitFor(
      'the task to exec sleep',
      () => readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('sleep'),
      10_000,
    );
    assert.ok((await task.pids(ctx)).some((p) => p.pid === pid));

    const exec = await task.exec(ctx, 'e1', {
      stdin: '',
      stdout: `file://${out}`,
      stderr: `file://${out}.err`,
      terminal: false,
      spec: {
        typeUrl: 'types.containerd.io/opencontainers/runtime-spec/1/Process',
        value: execSpec(['echo', 'from-exec']),
      },
    });
    const waited = exec.wait(ctx);
    await exec.start(ctx);
    assert.equal((await waited).status, 0);
    await exec.delete(ctx);
    await waitFor(
      'the exec output',
      () => existsSync(out) && readFileSync(out, 'utf8').includes('from-exec'),
      10_000,
    );

    // Update passes the OCI resources through to runc: the memory cgroup gets the limit.
    await task.update(
      ctx,
      {
        typeUrl: 'types.containerd.io/opencontainers/runtime-spec/1/LinuxResources',
        value: Buffer.from(JSON.stringify({ memory: { limit: 64 * 1024 * 1024 } })),
      },
      {},
    );
    assert.equal(memoryLimit(pid), 64 * 1024 * 1024);

    await task.pause(ctx);
    assert.equal((await task.state(ctx)).status, 'paused');
    await task.resume(ctx);
    assert.ok(await task.stats(ctx));

    const exited = task.wait(ctx);
    await task.kill(ctx, 9, false);
    assert.equal((await exited).status, 137);
    const bundle = join(dir, 'state', 'berth-test', 't1');
    const exit = await m.delete(ctx, 't1');
    assert.equal(exit.status, 137);
    assert.equal(exit.pid, pid);
    assert.equal(existsSync(bundle), false, 'bundle removed');
    assert.equal(mountsUnder(dir).length, 0, 'no mounts left');
    assert.throws(() => m.get(ctx, 't1'));
    for (const t of [
      '/tasks/create',
      '/tasks/start',
      '/tasks/exec-added',
      '/tasks/exec-started',
      '/tasks/paused',
      '/tasks/resumed',
      '/tasks/delete',
    ]) {
      await waitFor(`the ${t} event`, () => topics.includes(t), 10_000);
    }
    assert.ok(topics.indexOf('/tasks/create') < topics.indexOf('/tasks/start'));
    assert.ok(topics.indexOf('/tasks/start') < topics.indexOf('/tasks/delete'));
  });

  it('refuses a second task for a container that has one', async () => {
    const m = await manager();
    await create(m, 't2', ['sleep', '1000']);
    await assert.rejects(create(m, 't2', ['sleep', '1000']), { kind: 'already_exists' });
    await m.delete(ctx, 't2');
  });

  it('a failed create leaves no bundle, mount or shim', async () => {
    const m = await manager();
    await assert.rejects(create(m, 't3', ['/no/such/binary']));
    assert.equal(existsSync(join(dir, 'state', 'berth-test', 't3')), false);
    assert.equal(mountsUnder(dir).length, 0);
    await waitFor('the shim of t3 to exit', () => shimsFor('t3').length === 0, 10_000);
  });

  it('runs an io.containerd.runtime.v1.linux task on the runc shim, with its RuncOptions', async () => {
    const m = await manager();
    const v1 = (id: string, runtime: string) =>
      m.create(ctx, id, {
        spec: {
          typeUrl: 'types.containerd.io/opencontainers/runtime-spec/1/Spec',
          value: spec(['sleep', '1000']),
        },
        runtime: 'io.containerd.runtime.v1.linux',
        runtimeOptions: {
          typeUrl: 'containerd.linux.runc.RuncOptions',
          value: RuncOptions.encode(RuncOptions.fromPartial({ runtime })).finish(),
        },
        rootfs: [{ type: 'bind', source: rootfs, options: ['rbind', 'ro'] }],
        io: { stdin: '', stdout: '', stderr: '', terminal: false },
      });
    // As containerd's TestContainerRuntimeOptionsv1: the runc binary named is the one run.
    await assert.rejects(v1('v1-norunc', 'no-runc'), (err: Error) =>
      err.message.includes('"no-runc"'),
    );
    assert.equal(existsSync(join(dir, 'state', 'berth-test', 'v1-norunc')), false);
    await waitFor(
      'the shim of v1-norunc to exit',
      () => shimsFor('v1-norunc').length === 0,
      10_000,
    );

    const { task } = await v1('v1-runc', 'runc');
    const pid = await task.start(ctx);
    assert.equal((await task.state(ctx)).status, 'running');
    assert.ok(
      existsSync(join(dir, 'runc', 'berth-test', 'v1-runc', 'state.json')),
      'berth runc root',
    );
    const exited = task.wait(ctx);
    await task.kill(ctx, 9, false);
    assert.equal((await exited).status, 137);
    assert.equal((await m.delete(ctx, 'v1-runc')).pid, pid);
  });

  it('grouped containers share one shim, which exits with the last of them', async () => {
    const m = await manager();
    const group = { 'io.containerd.runc.v2.group': 'g1' };
    const g1 = await create(m, 'g1a', ['sleep', '1000'], '', group);
    await g1.start(ctx);
    const g2 = await create(m, 'g1b', ['sleep', '1000'], '', group);
    await g2.start(ctx);
    const shims = pgrep('containerd-shim-runc-v2 -namespace berth-test -id g1a ');
    assert.equal(shims.length, 1, 'one shim, started for the first container');
    assert.deepEqual(shimsFor('g1b'), [], 'no shim of its own for the second');

    for (const t of [g1, g2]) {
      const exited = t.wait(ctx);
      await t.kill(ctx, 9, false);
      await exited;
    }
    await m.delete(ctx, 'g1a');
    // The other container is still served by the same shim.
    assert.equal((await m.get(ctx, 'g1b').state(ctx)).status, 'stopped');
    assert.deepEqual(pgrep('containerd-shim-runc-v2 -namespace berth-test -id g1a '), shims);
    await m.delete(ctx, 'g1b');
    await waitFor(
      'the group shim to exit',
      () => pgrep('containerd-shim-runc-v2 -namespace berth-test -id g1a ').length === 0,
      10_000,
    );
  });

  it('a new manager removes a bundle whose shim never got its task, and one whose shim never started', async () => {
    const m1 = await manager();
    const t = await create(m1, 'half', ['sleep', '1000']);
    // As if the daemon had died between `shim start` and Task.Create: the shim runs, with no task.
    await (t as ShimTask).shim.delete({ id: 'half' });
    await m1.close();
    const never = join(dir, 'state', 'berth-test', 'never');
    mkdirSync(join(never, 'rootfs'), { recursive: true });
    writeFileSync(join(never, 'config.json'), '{}');
    writeFileSync(join(never, 'runtime-name'), 'io.containerd.runc.v2');

    const m2 = await manager();
    assert.throws(() => m2.get(ctx, 'half'));
    assert.throws(() => m2.get(ctx, 'never'));
    assert.equal(existsSync(join(dir, 'state', 'berth-test', 'half')), false);
    assert.equal(existsSync(never), false);
    await waitFor('the shim of half to exit', () => shimsFor('half').length === 0, 10_000);
  });

  it('a new manager finds running tasks again; a shim that died is reported stopped', async () => {
    const m1 = await manager();
    const a = await create(m1, 'ra', ['sleep', '1000']);
    const pidA = await a.start(ctx);
    const b = await create(m1, 'rb', ['sleep', '1000']);
    await b.start(ctx);
    await m1.close();
    // "The daemon is down": a shim dies meanwhile.
    for (const pid of shimsFor('rb')) process.kill(pid, 'SIGKILL');
    await waitFor('the killed shim of rb to go', () => shimsFor('rb').length === 0, 10_000);

    const m2 = await manager();
    const ra: Task = m2.get(ctx, 'ra');
    const state = await ra.state(ctx);
    assert.equal(state.status, 'running');
    assert.equal(state.pid, pidA);
    const rb = await m2.get(ctx, 'rb').state(ctx);
    const rbSocket = readFileSync(
      join(dir, 'state', 'berth-test', 'rb', 'address'),
      'utf8',
    ).replace('unix://', '');
    assert.equal(existsSync(rbSocket), false, 'the dead shim socket is removed');
    assert.equal(rb.status, 'stopped');
    assert.ok(exits.length > 0, 'the exit of the dead shim was published');
    assert.equal((await m2.delete(ctx, 'rb')).status, rb.exitStatus);
    assert.equal(existsSync(join(dir, 'state', 'berth-test', 'rb')), false);

    // A shim that dies while the manager runs.
    for (const pid of shimsFor('ra')) process.kill(pid, 'SIGKILL');
    // Until the manager has noticed, calls fail (unavailable); then the task reads stopped.
    await waitFor(
      'ra to read stopped',
      async () => {
        const s = await m2
          .get(ctx, 'ra')
          .state(ctx)
          .catch(() => undefined);
        return s?.status === 'stopped';
      },
      10_000,
    );
    await m2.delete(ctx, 'ra');
    assert.equal(mountsUnder(dir).length, 0);
  });
});

const consoleLogger: Logger = {
  trace: () => {},
  debug: () => {},
  info: (...a: unknown[]) => console.error(JSON.stringify(a)),
  warn: (...a: unknown[]) => console.error(JSON.stringify(a)),
  error: (...a: unknown[]) => console.error(JSON.stringify(a)),
  child: () => consoleLogger,
};

function execSpec(args: string[]): Buffer {
  return Buffer.from(
    JSON.stringify({ args, cwd: '/', env: ['PATH=/bin'], user: { uid: 0, gid: 0 } }),
  );
}

/** Shim processes serving `id` in the test namespace (by their argv). */
function shimsFor(id: string): number[] {
  return pgrep(`containerd-shim-runc-v2 -namespace berth-test -id ${id} `);
}

/** Pids whose command line matches `pattern`. */
function pgrep(pattern: string): number[] {
  const r = spawnSync('pgrep', ['-f', pattern], { encoding: 'utf8' });
  return r.stdout.split('\n').filter(Boolean).map(Number);
}
