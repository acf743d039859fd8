import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { waitFor } from '../../../test/helpers/daemon.js';
import { RuncOptions } from '../../api/containerd/linux/runc/runc.js';
import { Options } from '../../api/containerd/runc/options/oci.js';
import { isInvalidArgument, isNotFound } from '../../core/errdefs/index.js';
import { nullLogger } from '../../core/log/index.js';
import type { OpContext } from '../../core/namespaces/index.js';
import type { AnyValue, Exit } from '../../core/tasks/index.js';
import { groupAddress, socketPathOf } from '../../shim/group.js';
import { removeTree } from '../../sys/remove-tree.js';
import { type RuntimeEvents, ShimManager } from './manager.js';
import { FakeShimBinary } from './testing/fake-shim-binary.js';

/**
 * The manager's recovery and rollback without root, against a fake shim
 * (src/runtime/v2/testing): real processes started with the shim start
 * protocol, serving containerd.task.v2.Task over berth's ttrpc, scripted
 * to fail or die. What needs runc and mounts is in manager.root.test.ts.
 */
const NS = 'berth-test';
const FAKE = 'io.containerd.fake.v2';
const BERTH = 'io.containerd.berth.v1';

describe('ShimManager with a fake shim', () => {
  let dir: string;
  let fake: FakeShimBinary;
  const managers: ShimManager[] = [];
  const exits: ({ containerId: string } & Exit)[] = [];
  const deletes: string[] = [];
  const ctx: OpContext = { namespace: NS, signal: new AbortController().signal, log: nullLogger };

  const bundle = (id: string) => join(dir, 'state', NS, id);
  const workDir = (id: string) => join(dir, 'root', NS, id);

  const manager = async (over: { defaultRuntime?: string } = {}): Promise<ShimManager> => {
    const events: RuntimeEvents = {
      taskExit: (_ns, e) => exits.push(e),
      taskDelete: (_ns, e) => deletes.push(e.containerId),
    };
    const m = new ShimManager({
      roots: { state: join(dir, 'state'), root: join(dir, 'root') },
      binary: {
        address: join(dir, 'daemon.sock'),
        ttrpcAddress: join(dir, 'daemon.sock.ttrpc'),
        publishBinary: '/bin/true',
        // The v1 runtime runs on the runc v2 shim: the fake stands in for it.
        paths: { [FAKE]: fake.path, 'io.containerd.runc.v2': fake.path, [BERTH]: fake.path },
        debug: false,
        timeoutMs: 30_000,
      },
      runcRoot: join(dir, 'runc'),
      ...over,
      groupSocketDir: join(fake.dir, 's'),
      events,
      log: nullLogger,
    });
    managers.push(m);
    await m.load();
    return m;
  };

  const create = (
    m: ShimManager,
    id: string,
    over: { runtime?: string; spec?: string; runtimeOptions?: AnyValue } = {},
  ) =>
    m.create(ctx, id, {
      spec: {
        typeUrl: 'types.containerd.io/opencontainers/runtime-spec/1/Spec',
        value: Buffer.from(over.spec ?? '{}'),
      },
      runtime: over.runtime ?? FAKE,
      ...(over.runtimeOptions && { runtimeOptions: over.runtimeOptions }),
      rootfs: [],
      io: { stdin: '', stdout: '', stderr: '', terminal: false },
    });

  /** Nothing of `id` is left: no task, bundle, work dir, shim process or socket. */
  const assertNothingLeft = async (m: ShimManager, id: string) => {
    assert.throws(() => m.get(ctx, id), isNotFound);
    assert.ok(!m.list(ctx).some((t) => t.id === id));
    assert.equal(existsSync(bundle(id)), false, 'no bundle');
    assert.equal(existsSync(workDir(id)), false, 'no work dir');
    await waitFor(`the shim of ${id} to exit`, () => fake.livePids(NS, id).length === 0, 10_000);
    assert.equal(existsSync(fake.socket(NS, id)), false, 'no socket');
  };

  const stop = async (m: ShimManager, id: string) => {
    const t = m.get(ctx, id);
    const exited = t.wait(ctx);
    await t.kill(ctx, 9, false);
    return exited;
  };

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'berth-fake-shim-'));
    fake = new FakeShimBinary(join(dir, 'fake'));
  });
  afterEach(async () => {
    for (const m of managers.splice(0)) await m.close();
  });
  after(() => {
    fake.cleanup();
    removeTree(dir, tmpdir());
  });

  it('runs a task from create to delete; the shim exits with its last task', async () => {
    const m = await manager();
    const { task, pid } = await create(m, 'life');
    const [shim] = fake.livePids(NS, 'life');
    assert.equal(pid, shim, 'the fake task runs as its shim');
    assert.equal((await task.state(ctx)).status, 'created');
    assert.equal(await task.start(ctx), pid);
    assert.equal((await task.state(ctx)).status, 'running');
    assert.equal((await stop(m, 'life')).status, 137);
    const exit = await m.delete(ctx, 'life');
    assert.deepEqual([exit.pid, exit.status], [pid, 137]);
    await assertNothingLeft(m, 'life');
    assert.deepEqual(fake.calls(), [`start ${NS} life`]);
  });

  it('a Wait in flight when the task is deleted answers its exit, not the closing connection', async () => {
    const m = await manager();
    const { task } = await create(m, 'waited');
    // A created task's Wait waits; the delete lets the shim go and its connection close under it.
    const waited = task.wait(ctx);
    const exit = await m.delete(ctx, 'waited');
    assert.deepEqual(await waited, exit);
    // One issued afterwards on the stale handle answers the same.
    assert.deepEqual(await task.wait(ctx), exit);
    await assertNothingLeft(m, 'waited');
  });

  describe('a failed create leaves nothing behind', () => {
    it('an unknown runtime: not_found, before anything is made', async () => {
      const m = await manager();
      await assert.rejects(create(m, 'norun', { runtime: 'io.containerd.nope.v1' }), isNotFound);
      await assertNothingLeft(m, 'norun');
      assert.ok(!fake.calls().some((c) => c.endsWith(' norun')));
    });

    it('a spec that is not JSON: invalid_argument', async () => {
      const m = await manager();
      await assert.rejects(create(m, 'badspec', { spec: 'not json' }), isInvalidArgument);
      await assertNothingLeft(m, 'badspec');
    });

    it('shim start fails: its message, and no shim delete (nothing started)', async () => {
      const m = await manager();
      fake.script('nostart', { failStart: 'cannot start this one' });
      await assert.rejects(create(m, 'nostart'), /cannot start this one/);
      await assertNothingLeft(m, 'nostart');
      assert.deepEqual(
        fake.calls().filter((c) => c.endsWith(' nostart')),
        [`start ${NS} nostart`],
      );
    });

    it('the shim answers an address nobody serves: shim delete cleans up', async () => {
      const m = await manager();
      fake.script('noserve', { startWithoutServing: true });
      await assert.rejects(create(m, 'noserve'));
      await assertNothingLeft(m, 'noserve');
      assert.deepEqual(
        fake.calls().filter((c) => c.endsWith(' noserve')),
        [`start ${NS} noserve`, `delete ${NS} noserve`],
      );
    });

    it('Task.Create fails: the shim is shut down; the id can be created again', async () => {
      const m = await manager();
      fake.script('nocreate', { failCreate: 'runc said no' });
      await assert.rejects(create(m, 'nocreate'), /runc said no/);
      await assertNothingLeft(m, 'nocreate');

      fake.script('nocreate', {});
      await create(m, 'nocreate');
      assert.equal((await m.get(ctx, 'nocreate').state(ctx)).status, 'created');
      await m.delete(ctx, 'nocreate');
      await assertNothingLeft(m, 'nocreate');
    });

    it('the shim dies during Task.Create: shim delete, and its socket is removed', async () => {
      const m = await manager();
      fake.script('diecreate', { dieOnCreate: true });
      await assert.rejects(create(m, 'diecreate'));
      await assertNothingLeft(m, 'diecreate');
      assert.deepEqual(
        fake.calls().filter((c) => c.endsWith(' diecreate')),
        [`start ${NS} diecreate`, `delete ${NS} diecreate`],
      );
      assert.ok(!exits.some((e) => e.containerId === 'diecreate'), 'no task, so no exit');
    });
  });

  it('after a restart, load() reconnects to a live shim and lists its task', async () => {
    const m1 = await manager();
    const { task, pid } = await create(m1, 'live');
    await task.start(ctx);
    await m1.close();
    assert.deepEqual(fake.livePids(NS, 'live'), [pid], 'the shim outlives the manager');

    const m2 = await manager();
    assert.deepEqual(
      m2.list(ctx).map((t) => t.id),
      ['live'],
    );
    const state = await m2.get(ctx, 'live').state(ctx);
    assert.deepEqual([state.status, state.pid], ['running', pid]);
    assert.ok(!fake.calls().includes(`delete ${NS} live`));
    assert.equal((await stop(m2, 'live')).status, 137);
    await m2.delete(ctx, 'live');
    await assertNothingLeft(m2, 'live');
  });

  it('after a restart, load() cleans up after a dead shim: shim delete, exit recorded and published, STOPPED', async () => {
    const m1 = await manager();
    const { task, pid } = await create(m1, 'dead');
    await task.start(ctx);
    await m1.close();
    await fake.kill(NS, 'dead');
    assert.ok(existsSync(fake.socket(NS, 'dead')), 'a killed shim leaves its socket');

    const m2 = await manager();
    assert.ok(fake.calls().includes(`delete ${NS} dead`));
    assert.equal(existsSync(fake.socket(NS, 'dead')), false, 'the stale socket is removed');
    const exit = exits.find((e) => e.containerId === 'dead');
    assert.deepEqual([exit?.pid, exit?.status], [pid, 137], 'the /tasks/exit of shim delete');
    const state = await m2.get(ctx, 'dead').state(ctx);
    assert.deepEqual([state.status, state.exitStatus, state.pid], ['stopped', 137, pid]);
    assert.deepEqual(JSON.parse(readFileSync(join(bundle('dead'), 'exit'), 'utf8')).status, 137);
    await m2.close();

    // The exit file is what a later load finds: no second shim delete, no second event.
    const m3 = await manager();
    assert.equal((await m3.get(ctx, 'dead').state(ctx)).status, 'stopped');
    assert.equal(
      fake.calls().filter((c) => c === `delete ${NS} dead`).length,
      1,
      fake.calls().join('\n'),
    );
    assert.equal(
      exits.filter((e) => e.containerId === 'dead').length,
      1,
      JSON.stringify(exits, (_k, v) => (typeof v === 'bigint' ? String(v) : v)),
    );
    assert.equal((await m3.delete(ctx, 'dead')).status, 137);
    assert.ok(deletes.includes('dead'), 'the /tasks/delete of a stopped task');
    await assertNothingLeft(m3, 'dead');
  });

  it('a shim that dies while load() reconnects is cleaned up once', async () => {
    const m1 = await manager();
    const { task, pid } = await create(m1, 'dieconnect');
    await task.start(ctx);
    await m1.close();
    fake.script('dieconnect', { dieOnConnect: true });

    const m2 = await manager();
    assert.equal((await m2.get(ctx, 'dieconnect').state(ctx)).status, 'stopped');
    // Load handled the drop; the lost connection must not be handled a second time.
    await waitFor('the shim to go', () => fake.livePids(NS, 'dieconnect').length === 0, 10_000);
    await m2.close();
    assert.equal(fake.calls().filter((c) => c === `delete ${NS} dieconnect`).length, 1);
    const published = exits.filter((e) => e.containerId === 'dieconnect');
    assert.deepEqual(
      published.map((e) => [e.pid, e.status]),
      [[pid, 137]],
    );
  });

  it('a shim connection that drops while running is handled the same way', async () => {
    const m = await manager();
    const { task, pid } = await create(m, 'drop');
    await task.start(ctx);
    await fake.kill(NS, 'drop');
    await waitFor('the task to read stopped', async () => {
      const s = await m
        .get(ctx, 'drop')
        .state(ctx)
        .catch(() => undefined);
      return s?.status === 'stopped';
    });
    assert.ok(fake.calls().includes(`delete ${NS} drop`));
    const exit = exits.find((e) => e.containerId === 'drop');
    assert.deepEqual([exit?.pid, exit?.status], [pid, 137]);
    assert.equal(existsSync(fake.socket(NS, 'drop')), false, 'the stale socket is removed');
    assert.equal((await m.get(ctx, 'drop').wait(ctx)).status, 137);
    await m.delete(ctx, 'drop');
    await assertNothingLeft(m, 'drop');
  });

  describe("berth's grouped shim (io.containerd.berth.v1)", () => {
    const grouped = (group: string) =>
      JSON.stringify({ annotations: { 'io.containerd.runc.v2.group': group } });
    const started = (id: string) => fake.calls().includes(`start ${NS} ${id}`);

    it('a task of a group whose shim serves tasks skips shim start; the shim exits with the last', async () => {
      const m = await manager();
      for (const id of ['gA', 'gB', 'gC', 'gD'])
        fake.script(id, { group: id === 'gD' ? 'db' : 'web' });
      const a = await create(m, 'gA', { runtime: BERTH, spec: grouped('web') });
      const b = await create(m, 'gB', { runtime: BERTH, spec: grouped('web') });
      assert.ok(started('gA'));
      assert.ok(!started('gB'), 'no shim start for a live group');
      assert.equal(b.pid, a.pid, 'one shim process serves both');
      const hash = basename(socketPathOf(groupAddress(join(dir, 'daemon.sock'), NS, 'web')));
      const address = `unix://${join(fake.dir, 's', hash)}`;
      assert.equal(readFileSync(join(bundle('gA'), 'address'), 'utf8').trim(), address);
      assert.equal(readFileSync(join(bundle('gB'), 'address'), 'utf8'), address);
      assert.equal(readFileSync(join(bundle('gB'), 'runtime-name'), 'utf8'), BERTH);
      // Another group is cold: its shim is started.
      const d = await create(m, 'gD', { runtime: BERTH, spec: grouped('db') });
      assert.ok(started('gD'));
      assert.notEqual(d.pid, a.pid);

      // The first task goes; the group's shim stays for the other, and takes a new one.
      await stop(m, 'gA');
      await m.delete(ctx, 'gA');
      assert.equal(fake.livePids(NS, 'gA').length, 1, 'the group shim still runs');
      const c = await create(m, 'gC', { runtime: BERTH, spec: grouped('web') });
      assert.ok(!started('gC'));
      assert.equal(c.pid, a.pid);
      assert.equal(await c.task.start(ctx), a.pid);

      for (const id of ['gB', 'gC', 'gD']) {
        await stop(m, id).catch(() => {});
        await m.delete(ctx, id);
      }
      await waitFor('the group shims to exit', () => fake.livePids(NS, 'gA').length === 0, 10_000);
      await waitFor('the db shim to exit', () => fake.livePids(NS, 'gD').length === 0, 10_000);
      assert.ok(!existsSync(bundle('gB')) && !existsSync(bundle('gC')));
    });

    it('a task whose container names no runtime runs with the default runtime', async () => {
      const m = await manager({ defaultRuntime: FAKE });
      const { task } = await create(m, 'dflt', { runtime: '' });
      assert.ok(started('dflt'));
      assert.equal(task.runtime, FAKE);
      assert.equal(readFileSync(join(bundle('dflt'), 'runtime-name'), 'utf8'), FAKE);
      await m.delete(ctx, 'dflt');
      await assertNothingLeft(m, 'dflt');
    });
  });

  describe('io.containerd.runtime.v1.linux', () => {
    it('runs on the runc v2 shim with its RuncOptions translated, under the daemon runc root', async () => {
      const m = await manager();
      await create(m, 'v1', {
        runtime: 'io.containerd.runtime.v1.linux',
        runtimeOptions: {
          typeUrl: 'containerd.linux.runc.RuncOptions',
          value: RuncOptions.encode(
            RuncOptions.fromPartial({ runtime: 'no-runc', systemdCgroup: true }),
          ).finish(),
        },
      });
      const got = JSON.parse(readFileSync(join(bundle('v1'), 'fake-create-options'), 'utf8'));
      assert.equal(got.typeUrl, 'containerd.runc.v1.Options');
      assert.deepEqual(
        Options.decode(Buffer.from(got.value, 'base64')),
        Options.fromPartial({
          binaryName: 'no-runc',
          systemdCgroup: true,
          root: join(dir, 'runc'),
        }),
      );
      assert.equal(m.get(ctx, 'v1').runtime, 'io.containerd.runtime.v1.linux');
      await m.delete(ctx, 'v1');
      await assertNothingLeft(m, 'v1');
    });

    it('refuses runtime options of another type before starting a shim', async () => {
      const m = await manager();
      await assert.rejects(
        create(m, 'v1bad', {
          runtime: 'io.containerd.runtime.v1.linux',
          runtimeOptions: { typeUrl: 'containerd.runc.v1.Options', value: new Uint8Array() },
        }),
        isInvalidArgument,
      );
      await assertNothingLeft(m, 'v1bad');
      assert.ok(!fake.calls().some((c) => c.endsWith(' v1bad')));
    });
  });
});
