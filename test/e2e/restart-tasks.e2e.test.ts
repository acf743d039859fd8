import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ctrAsync, ctrOkAsync, taskList } from '../helpers/ctr.js';
import {
  alive,
  cmdline,
  daemonKind,
  shimPids,
  startDaemonWithImage,
  type TestDaemon,
  uniqueId,
  waitFor,
} from '../helpers/daemon.js';
import { BERTH_RUNTIME, runtimeLabel, runtimeOfInfo } from '../helpers/runtime.js';
import { shimsServing } from '../helpers/shims.js';

const root = process.getuid?.() === 0;
const kind = daemonKind();
const LONG = 10;
/** Long enough to be running when the daemon is killed, short enough to exit while it is down. */
const SHORT_SECONDS = 4;

describe(`restart with running containers (${kind}${runtimeLabel()})`, {
  skip: !root && 'needs root',
}, () => {
  let d: TestDaemon;
  let image: string;
  const c = (args: string[]) => ctrAsync(d.socket, args);
  const ok = (args: string[]) => ctrOkAsync(d.socket, args);

  before(async () => {
    ({ d, image } = await startDaemonWithImage());
  });
  after(async () => {
    await d?.cleanup();
  });

  it('tasks survive kill -9 of the daemon and a restart finds them, exits included', async () => {
    const long = Array.from({ length: LONG }, (_, i) => uniqueId(`sleep${i}`));
    const short = uniqueId('short');
    for (const id of long) await ok(['run', '-d', image, id, 'sleep', '1000']);
    await ok(['run', '-d', image, short, 'sh', '-c', `sleep ${SHORT_SECONDS}; exit 42`]);

    const tasks = new Map((await taskList(d.socket)).map((t) => [t.id, t]));
    for (const id of [...long, short]) assert.equal(tasks.get(id)?.status, 'RUNNING', id);
    const pids = new Map(long.map((id) => [id, tasks.get(id)?.pid ?? 0]));
    for (const [id, pid] of pids) assert.deepEqual(cmdline(pid), ['sleep', '1000'], id);
    const shortPid = tasks.get(short)?.pid ?? 0;
    const runtime = runtimeOfInfo(await ok(['containers', 'info', short]));
    const shims = shimsServing([...pids.values(), shortPid], runtime);
    // No grouping annotation: one stock shim per container; berth's groups a namespace in one.
    const expected = runtime === BERTH_RUNTIME ? 1 : LONG + 1;
    assert.equal(shims.length, expected, `${runtime} shims: ${JSON.stringify(shims)}`);
    assert.deepEqual(shimPids(d.socket).sort(), shims, 'the shims found by -address <socket>');

    const daemonPid = d.pid;
    await d.kill9();
    assert.ok(!alive(daemonPid));
    assert.ok(alive(shortPid), `the short task exited before the daemon was killed`);
    for (const [id, pid] of pids) assert.ok(alive(pid), `${id} (pid ${pid}) died with the daemon`);
    for (const shim of shims) assert.ok(alive(shim), `shim ${shim} died with the daemon`);

    // It exits while the daemon is down: its shim keeps the status.
    await waitFor('the short task to exit', () => !alive(shortPid), (SHORT_SECONDS + 10) * 1000);

    await d.restart();
    assert.notEqual(d.pid, daemonPid);
    const after = new Map((await taskList(d.socket)).map((t) => [t.id, t]));
    for (const [id, pid] of pids) {
      assert.deepEqual(after.get(id), { id, pid, status: 'RUNNING' }, id);
      assert.ok(alive(pid));
    }
    assert.equal(after.get(short)?.status, 'STOPPED', JSON.stringify(after.get(short)));

    const rm = await c(['task', 'rm', short]);
    assert.equal(rm.code, 0, rm.stderr);
    assert.match(rm.stderr, new RegExp(`task ${short} exit with non-zero exit code 42`));
    await ok(['containers', 'rm', short]);

    const first = long[0] ?? '';
    const exec = await c([
      'task',
      'exec',
      '--exec-id',
      'after-restart',
      first,
      'echo',
      'still here',
    ]);
    assert.equal(exec.code, 0, exec.stderr);
    assert.equal(exec.stdout, 'still here\n');

    for (const id of long) await ok(['task', 'kill', '-s', 'SIGKILL', id]);
    await waitFor('all tasks to stop', async () =>
      (await taskList(d.socket)).every((t) => t.status === 'STOPPED'),
    );
    for (const id of long) {
      const r = await c(['task', 'rm', id]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, new RegExp(`task ${id} exit with non-zero exit code 137`));
    }
    await ok(['containers', 'rm', ...long]);
    assert.deepEqual(await taskList(d.socket), []);
    assert.equal(await ok(['containers', 'ls', '-q']), '');
    for (const [id, pid] of pids) assert.ok(!alive(pid), id);
    await waitFor(
      'the shims to exit',
      () => shimPids(d.socket).length === 0 && shims.every((p) => !alive(p)),
      10_000,
    );
  });
});
