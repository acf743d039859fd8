import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ctrAsync, ctrOkAsync, type TaskRow, taskList } from '../helpers/ctr.js';
import {
  alive,
  startDaemonWithImage,
  type TestDaemon,
  uniqueId,
  waitFor,
} from '../helpers/daemon.js';

const root = process.getuid?.() === 0;

const STATUS = 'containerd.io/restart.status';
const POLICY = 'containerd.io/restart.policy';
const COUNT = 'containerd.io/restart.count';
const EXPLICITLY_STOPPED = 'containerd.io/restart.explicitly-stopped';
const AUTO_REMOVE = 'berth/auto-remove';
/** The brief's promise for the first few restarts of a killed task. */
const RESTARTED_WITHIN_MS = 5000;

/** One JSON line of berthd's log. */
interface LogLine {
  msg?: string;
  container?: string;
  namespace?: string;
  exitCode?: number;
  policy?: string;
  reason?: string;
}

describe('the restart monitor (berthd)', { skip: !root && 'needs root' }, () => {
  let d: TestDaemon;
  let image: string;
  const ok = (args: string[]) => ctrOkAsync(d.socket, args);
  const task = async (id: string): Promise<TaskRow | undefined> =>
    (await taskList(d.socket)).find((t) => t.id === id);
  const labels = async (id: string): Promise<Record<string, string>> =>
    (JSON.parse(await ok(['containers', 'info', id])) as { Labels?: Record<string, string> })
      .Labels ?? {};
  const logOf = (id: string): LogLine[] =>
    d.output
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as LogLine)
      .filter((l) => l.container === id);
  const run = (id: string, labelArgs: string[], cmd: string[]) =>
    ok(['run', '-d', ...labelArgs.flatMap((l) => ['--label', l]), image, id, ...cmd]);
  /** Stops the monitor from acting on it first (status stopped), then removes it. */
  const remove = async (id: string) => {
    const c = (args: string[]) => ctrAsync(d.socket, args);
    await c(['containers', 'label', id, `${STATUS}=stopped`]);
    await c(['tasks', 'kill', '-a', '-s', 'SIGKILL', id]);
    await waitFor(`${id} to stop`, async () => (await task(id))?.status !== 'RUNNING');
    await c(['tasks', 'rm', '-f', id]);
    await c(['containers', 'rm', id]);
  };
  const created: string[] = [];
  const newId = (name: string) => {
    const id = uniqueId(`restart-${name}`);
    created.push(id);
    return id;
  };

  before(async () => {
    ({ d, image } = await startDaemonWithImage(undefined, 'berthd'));
  });
  after(async () => {
    if (d?.running) for (const id of created) await remove(id).catch(() => {});
    await d?.cleanup();
  });

  it('restarts a killed task of policy always: a new pid, running within 5 s, count 1', async () => {
    const id = newId('always');
    await run(id, [`${STATUS}=running`, `${POLICY}=always`], ['sleep', '1000']);
    const first = await task(id);
    assert.equal(first?.status, 'RUNNING');
    await ok(['tasks', 'kill', '-s', 'KILL', id]);
    await waitFor(
      'a new running task',
      async () => {
        const t = await task(id);
        return t?.status === 'RUNNING' && t.pid !== first?.pid;
      },
      RESTARTED_WITHIN_MS,
    );
    assert.ok(!alive(first?.pid ?? 0), 'the old process is gone');
    assert.equal((await labels(id))[COUNT], '1');
    const decision = logOf(id).find((l) => l.msg === 'restart monitor: restarting container');
    assert.ok(decision, `no restart decision logged:\n${d.output}`);
    assert.equal(decision.namespace, 'default');
    assert.equal(decision.exitCode, 137);
    assert.equal(decision.policy, 'always');

    // A second kill restarts it again (backoff 200 ms), counting on.
    const second = await task(id);
    await ok(['tasks', 'kill', '-s', 'KILL', id]);
    await waitFor(
      'a third task',
      async () => {
        const t = await task(id);
        return t?.status === 'RUNNING' && t.pid !== second?.pid;
      },
      RESTARTED_WITHIN_MS,
    );
    assert.equal((await labels(id))[COUNT], '2');
    await remove(id);
  });

  it('on-failure:2 restarts a failing task twice, then leaves it stopped', async () => {
    const id = newId('on-failure');
    await run(id, [`${STATUS}=running`, `${POLICY}=on-failure:2`], ['sh', '-c', 'exit 3']);
    await waitFor('the monitor to give up', () =>
      logOf(id).some((l) => l.reason?.startsWith('gave up after 2 restarts') === true),
    );
    assert.equal((await labels(id))[COUNT], '2');
    const t = await task(id);
    assert.equal(t?.status, 'STOPPED');
    const restarts = logOf(id).filter((l) => l.msg === 'restart monitor: restarting container');
    assert.equal(restarts.length, 2, JSON.stringify(logOf(id)));
    for (const r of restarts) assert.equal(r.exitCode, 3);
    // The periodic reconcile agrees: still stopped, still 2.
    await d.restart();
    await waitFor('the startup reconcile to decide', () =>
      logOf(id).some((l) => l.msg === 'restart monitor: not restarting container'),
    );
    assert.equal((await task(id))?.status, 'STOPPED');
    assert.equal((await labels(id))[COUNT], '2');
    await remove(id);
  });

  it('honours status stopped set before the kill', async () => {
    const id = newId('stopped');
    await run(id, [`${STATUS}=running`, `${POLICY}=always`], ['sleep', '1000']);
    const first = await task(id);
    await ok(['containers', 'label', id, `${STATUS}=stopped`, `${EXPLICITLY_STOPPED}=true`]);
    await ok(['tasks', 'kill', '-s', 'KILL', id]);
    await waitFor('the task to stop', async () => (await task(id))?.status === 'STOPPED');
    await waitFor('the decision', () =>
      logOf(id).some((l) => l.reason === 'desired status is "stopped"'),
    );
    const t = await task(id);
    assert.deepEqual(t, { id, pid: first?.pid, status: 'STOPPED' });
    assert.equal((await labels(id))[COUNT], undefined);
    assert.equal(
      logOf(id).filter((l) => l.msg === 'restart monitor: restarting container').length,
      0,
    );
    await remove(id);
  });

  it('auto-remove removes the container and its snapshot once its task exits', async () => {
    const id = newId('rm');
    await run(id, [`${AUTO_REMOVE}=true`], ['sleep', '1000']);
    assert.match(await ok(['snapshots', 'ls']), new RegExp(`^${id}\\s`, 'm'));
    await ok(['tasks', 'kill', '-s', 'KILL', id]);
    await waitFor('the container to go', async () => {
      const ids = (await ok(['containers', 'ls', '-q'])).split('\n');
      return !ids.includes(id);
    });
    assert.equal(await task(id), undefined);
    assert.doesNotMatch(await ok(['snapshots', 'ls']), new RegExp(`^${id}\\s`, 'm'));
    const removed = logOf(id).find((l) => l.msg === 'restart monitor: auto-removed container');
    assert.equal(removed?.exitCode, 137);
  });

  it('starts a container whose task exited while berthd was down', async () => {
    const id = newId('daemon-restart');
    await run(id, [`${STATUS}=running`, `${POLICY}=unless-stopped`], ['sleep', '1000']);
    const first = await task(id);
    assert.equal(first?.status, 'RUNNING');
    const pid = first?.pid ?? 0;
    await d.stop();
    // The container's own process, found through ctr above.
    process.kill(pid, 'SIGKILL');
    await waitFor('the process to die', () => !alive(pid));
    await d.restart();
    await waitFor(
      'the task to run again',
      async () => {
        const t = await task(id);
        return t?.status === 'RUNNING' && t.pid !== pid;
      },
      RESTARTED_WITHIN_MS,
    );
    assert.equal((await labels(id))[COUNT], '1');
    await remove(id);
  });
});
