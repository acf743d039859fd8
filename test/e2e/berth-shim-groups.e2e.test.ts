/**
 * Issue 14's fault acceptance for grouped shims: 10 containers in two groups
 * (the `io.containerd.runc.v2.group` annotation) are served by exactly two
 * shim processes; they survive kill -9 of the daemon and a restarted daemon
 * finds them RUNNING with the same pids; kill -9 of one group's shim has its
 * containers reported and cleaned up while the other group goes on.
 * The runtime is SHIM_RUNTIME (test/helpers/shims.ts).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type CtrProcess, ctrAsync, ctrOkAsync, taskList } from '../helpers/ctr.js';
import {
  alive,
  bundles,
  cmdline,
  ctrEvents,
  daemonKind,
  mountsUnder,
  shimPids,
  startDaemonWithImage,
  TASKS_DIR,
  type TestDaemon,
  uniqueId,
  waitFor,
} from '../helpers/daemon.js';
import { GROUP_ANNOTATION, runtimeOfInfo } from '../helpers/runtime.js';
import { runcStateDir, SHIM_RUNTIME, shimsServing } from '../helpers/shims.js';

const root = process.getuid?.() === 0;
const kind = daemonKind();
const PER_GROUP = 5;
const NS = 'default';

interface Group {
  name: string;
  ids: string[];
  /** Init pid of each container. */
  pids: Map<string, number>;
  shim: number;
}

describe(`grouped shims and faults (${kind}, ${SHIM_RUNTIME})`, {
  skip: !root && 'needs root',
}, () => {
  let d: TestDaemon;
  let image: string;
  const background: CtrProcess[] = [];
  const c = (args: string[]) => ctrAsync(d.socket, args);
  const ok = (args: string[]) => ctrOkAsync(d.socket, args);
  const groups: Group[] = ['a', 'b'].map((g) => ({
    name: uniqueId(`group-${g}`),
    ids: Array.from({ length: PER_GROUP }, (_, i) => uniqueId(`${g}${i}`)),
    pids: new Map(),
    shim: 0,
  }));
  const [ga, gb] = groups as [Group, Group];

  before(async () => {
    ({ d, image } = await startDaemonWithImage());
  });
  after(async () => {
    for (const p of background) p.kill('SIGKILL');
    await d?.cleanup();
  });

  async function execEcho(id: string, execId: string): Promise<void> {
    const r = await c(['task', 'exec', '--exec-id', execId, id, 'echo', `hello ${execId}`]);
    assert.equal(r.code, 0, `${id}: ${r.stdout}${r.stderr}`);
    assert.equal(r.stdout, `hello ${execId}\n`, id);
  }

  it(`${2 * PER_GROUP} containers in two groups: two shims, each the parent of its group's inits`, async () => {
    // Interleaved, so that a group's shim is found again after another group's start.
    for (let i = 0; i < PER_GROUP; i++) {
      for (const g of groups) {
        const id = g.ids[i] ?? '';
        await ok([
          'run',
          '-d',
          '--runtime',
          SHIM_RUNTIME,
          '--annotation',
          `${GROUP_ANNOTATION}=${g.name}`,
          image,
          id,
          'sleep',
          '1000',
        ]);
      }
    }
    assert.equal(runtimeOfInfo(await ok(['containers', 'info', ga.ids[0] ?? ''])), SHIM_RUNTIME);
    const tasks = new Map((await taskList(d.socket)).map((t) => [t.id, t]));
    for (const g of groups) {
      for (const id of g.ids) {
        const t = tasks.get(id);
        assert.equal(t?.status, 'RUNNING', `${id}: ${JSON.stringify(t)}`);
        assert.deepEqual(cmdline(t.pid), ['sleep', '1000'], id);
        g.pids.set(id, t.pid);
        assert.ok(existsSync(runcStateDir(d, SHIM_RUNTIME, NS, id)), `runc state of ${id}`);
      }
      const shims = shimsServing([...g.pids.values()], SHIM_RUNTIME);
      assert.equal(shims.length, 1, `group ${g.name} is served by shims ${JSON.stringify(shims)}`);
      g.shim = shims[0] ?? 0;
    }
    assert.notEqual(ga.shim, gb.shim, 'each group has a shim of its own');
    // And no other shim serves this daemon (a shim's argv names it: -address <socket>).
    assert.deepEqual(
      shimPids(d.socket).sort((x, y) => x - y),
      [ga.shim, gb.shim].sort((x, y) => x - y),
    );
  });

  it('kill -9 of the daemon: every container and both shims live on; after a restart all are RUNNING with the same pids and exec works', async () => {
    const daemonPid = d.pid;
    await d.kill9();
    assert.ok(!alive(daemonPid));
    for (const g of groups) {
      assert.ok(alive(g.shim), `shim ${g.shim} of ${g.name} died with the daemon`);
      for (const [id, pid] of g.pids)
        assert.ok(alive(pid), `${id} (pid ${pid}) died with the daemon`);
    }

    await d.restart();
    assert.notEqual(d.pid, daemonPid);
    const tasks = new Map((await taskList(d.socket)).map((t) => [t.id, t]));
    for (const g of groups) {
      for (const [id, pid] of g.pids) {
        assert.deepEqual(tasks.get(id), { id, pid, status: 'RUNNING' }, id);
      }
      // The same two shims, no new one: the restarted daemon reconnected.
      assert.deepEqual(shimsServing([...g.pids.values()], SHIM_RUNTIME), [g.shim], g.name);
    }
    for (const g of groups) {
      for (const id of g.ids) await execEcho(id, 'after-restart');
    }
    // A container started now joins its group's live shim.
    const late = uniqueId('a-late');
    await ok([
      'run',
      '-d',
      '--runtime',
      SHIM_RUNTIME,
      '--annotation',
      `${GROUP_ANNOTATION}=${ga.name}`,
      image,
      late,
      'sleep',
      '1000',
    ]);
    const latePid = (await taskList(d.socket)).find((t) => t.id === late)?.pid ?? 0;
    assert.deepEqual(shimsServing([latePid], SHIM_RUNTIME), [ga.shim]);
    ga.ids.push(late);
    ga.pids.set(late, latePid);
  });

  it("kill -9 of one group's shim: its tasks exit (137) and are cleaned up; the other group runs on", async () => {
    const events = await ctrEvents(d.socket);
    background.push(events);

    process.kill(ga.shim, 'SIGKILL');
    await waitFor('the shim to die', () => !alive(ga.shim));

    // Reported: a /tasks/exit per container of the group, with the status runc's forced delete gives.
    for (const id of ga.ids) {
      await events.waitOutput(`/tasks/exit of ${id}`, (o) =>
        o.includes(`/tasks/exit {"container_id":"${id}"`),
      );
    }
    const exits = events.stdout
      .split('\n')
      .filter((l) => l.includes('/tasks/exit {'))
      .map((l) => JSON.parse(l.slice(l.indexOf('{'))) as Record<string, unknown>);
    for (const id of ga.ids) {
      const e = exits.find((x) => x.container_id === id);
      assert.equal(e?.exit_status, 137, JSON.stringify(e));
    }
    // containerd forgets such a task; berthd keeps it STOPPED until Tasks.Delete.
    const settled = async () => {
      const tasks = new Map((await taskList(d.socket)).map((t) => [t.id, t]));
      return ga.ids.every((id) => (tasks.get(id)?.status ?? 'STOPPED') === 'STOPPED');
    };
    await waitFor("the group's tasks to stop or go", settled, 20_000).catch(async () => {
      assert.fail(`tasks: ${JSON.stringify(await taskList(d.socket))}\n${d.output.slice(-4000)}`);
    });

    // Cleaned up: processes, runc state and rootfs mounts at once; bundles once the tasks are deleted.
    for (const [id, pid] of ga.pids) {
      await waitFor(`${id}'s init (pid ${pid}) to die`, () => !alive(pid));
      assert.ok(!existsSync(runcStateDir(d, SHIM_RUNTIME, NS, id)), `runc state left for ${id}`);
      assert.deepEqual(mountsUnder(join(d.state, TASKS_DIR, NS, id)), [], `mounts left for ${id}`);
    }
    const stopped = (await taskList(d.socket)).filter((t) => ga.ids.includes(t.id));
    for (const t of stopped) {
      const r = await c(['task', 'rm', t.id]);
      assert.equal(r.code, 0, `${t.id}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`task ${t.id} exit with non-zero exit code 137`));
    }
    const left = new Set(bundles(d.state).map((b) => b.id));
    for (const id of ga.ids) assert.ok(!left.has(id), `bundle left for ${id}`);
    // The containers themselves stay, without a task, as with any dead shim.
    const containers = await ok(['containers', 'ls', '-q']);
    for (const id of ga.ids) assert.match(containers, new RegExp(`^${id}$`, 'm'));

    // The other group: same shim, same pids, RUNNING, exec works.
    assert.ok(alive(gb.shim));
    const tasks = new Map((await taskList(d.socket)).map((t) => [t.id, t]));
    for (const [id, pid] of gb.pids) {
      assert.deepEqual(tasks.get(id), { id, pid, status: 'RUNNING' }, id);
      await execEcho(id, 'after-shim-kill');
    }
    assert.deepEqual(shimsServing([...gb.pids.values()], SHIM_RUNTIME), [gb.shim]);
    events.kill('SIGTERM');

    // The dead group's containers can get a new task: a new shim for the group.
    const again = ga.ids[0] ?? '';
    await ok(['task', 'start', '-d', again]);
    const t = (await taskList(d.socket)).find((x) => x.id === again);
    assert.equal(t?.status, 'RUNNING', JSON.stringify(t));
    const [newShim] = shimsServing([t.pid], SHIM_RUNTIME);
    assert.ok(newShim !== undefined && newShim !== ga.shim && newShim !== gb.shim);
  });

  it('removing every container lets both shims exit', async () => {
    const all = [...ga.ids, ...gb.ids];
    const running = (await taskList(d.socket)).map((t) => t.id);
    const shims = shimsServing(
      (await taskList(d.socket)).map((t) => t.pid),
      SHIM_RUNTIME,
    );
    for (const id of running) await ok(['task', 'kill', '-s', 'SIGKILL', id]);
    await waitFor('all tasks to stop', async () =>
      (await taskList(d.socket)).every((t) => t.status === 'STOPPED'),
    );
    for (const id of running) {
      const r = await c(['task', 'rm', id]);
      assert.equal(r.code, 0, r.stderr);
    }
    await ok(['containers', 'rm', ...all]);
    assert.deepEqual(await taskList(d.socket), []);
    await waitFor('the shims to exit', () => shims.every((s) => !alive(s)), 10_000);
    assert.deepEqual(bundles(d.state), []);
    assert.deepEqual(mountsUnder(d.dir.path), []);
  });
});
