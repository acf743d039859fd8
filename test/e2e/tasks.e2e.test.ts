import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmdirSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type CtrProcess, ctrAsync, ctrOkAsync, table, taskList } from '../helpers/ctr.js';
import {
  alive,
  cmdline,
  ctrEvents,
  daemonKind,
  entriesOf,
  runcRoot,
  startDaemonWithImage,
  type TestDaemon,
  uniqueId,
  waitFor,
} from '../helpers/daemon.js';
import { e2eRuntime, runtimeLabel } from '../helpers/runtime.js';

const root = process.getuid?.() === 0;
const kind = daemonKind();
const cgroupV1 = existsSync('/sys/fs/cgroup/freezer');

/** The freezer state of `pid`'s cgroup: FROZEN or THAWED (v1), 1 or 0 (v2's cgroup.freeze). */
function freezerState(pid: number): string {
  const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n');
  const v1 = lines.find((l) => l.split(':')[1] === 'freezer');
  if (v1 !== undefined) {
    const path = v1.split(':').slice(2).join(':');
    return readFileSync(join('/sys/fs/cgroup/freezer', path, 'freezer.state'), 'utf8').trim();
  }
  const v2 = lines.find((l) => l.startsWith('0::'));
  assert.ok(v2, `no freezer in /proc/${pid}/cgroup:\n${lines.join('\n')}`);
  return readFileSync(join('/sys/fs/cgroup', v2.slice(3), 'cgroup.freeze'), 'utf8').trim();
}

/** `ctr task ps`: PID INFO, as pids. */
function psPids(out: string): number[] {
  const rows = table(out);
  assert.deepEqual(rows[0], ['PID', 'INFO'], out);
  return rows.slice(1).map((r) => Number(r[0]));
}

interface Event {
  topic: string;
  body: Record<string, unknown>;
}

// Go's time.Time String(), namespace, topic, the event as JSON.
const EVENT_LINE = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? \+0000 UTC (\S+) (\S+) (.*)$/;

function parseEvents(out: string): Event[] {
  return out
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const m = EVENT_LINE.exec(l);
      assert.ok(m, `unexpected ctr events line: ${l}`);
      return { topic: m[2] ?? '', body: JSON.parse(m[3] ?? '') as Record<string, unknown> };
    });
}

describe(`tasks with the real ctr (${kind}${runtimeLabel()})`, {
  skip: !root && 'needs root',
}, () => {
  let d: TestDaemon;
  let image: string;
  const background: CtrProcess[] = [];
  const c = (args: string[]) => ctrAsync(d.socket, args);
  const ok = (args: string[]) => ctrOkAsync(d.socket, args);
  const status = async (id: string) => (await taskList(d.socket)).find((t) => t.id === id);

  before(async () => {
    ({ d, image } = await startDaemonWithImage());
  });
  after(async () => {
    for (const p of background) p.kill('SIGKILL');
    await d?.cleanup();
  });

  it('ctr run --rm prints what the process writes and exits with its status', async () => {
    const echo = uniqueId('echo');
    const r = await c(['run', '--rm', image, echo, 'echo', 'hello']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'hello\n');

    const exit7 = uniqueId('exit7');
    const r7 = await c(['run', '--rm', image, exit7, 'sh', '-c', 'echo bye >&2; exit 7']);
    assert.equal(r7.code, 7, r7.stderr);
    assert.equal(r7.stdout, '');
    assert.equal(r7.stderr, 'bye\n');

    // --rm took the tasks and the containers away.
    const left = await ok(['containers', 'ls', '-q']);
    assert.ok(!left.includes(echo) && !left.includes(exit7), left);
    assert.deepEqual(await taskList(d.socket), []);
  });

  describe('a detached sleep 1000', () => {
    const id = uniqueId('sleep');
    let pid = 0;

    it('ctr run -d: ctr task ls shows it RUNNING with the pid of a live sleep', async () => {
      assert.equal(await ok(['run', '-d', image, id, 'sleep', '1000']), '');
      const t = await status(id);
      assert.equal(t?.status, 'RUNNING', JSON.stringify(t));
      pid = t.pid;
      assert.ok(pid > 1, `pid ${pid}`);
      assert.ok(alive(pid));
      assert.deepEqual(cmdline(pid), ['sleep', '1000']);
      const info = JSON.parse(await ok(['containers', 'info', id])) as { Spec?: unknown };
      assert.ok(info.Spec, 'the container has its spec');
    });

    it('ctr task exec prints the exec output; ctr task ps lists the init alone after', async () => {
      const r = await c(['task', 'exec', '--exec-id', 'e1', id, 'echo', 'hi']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'hi\n');
      const r3 = await c(['task', 'exec', '--exec-id', 'e3', id, 'sh', '-c', 'exit 3']);
      assert.equal(r3.code, 3, r3.stderr);
      // The finished execs are gone: only the init is left.
      assert.deepEqual(psPids(await ok(['task', 'ps', id])), [pid]);
    });

    it('ctr task pause freezes the cgroup (PAUSED); resume thaws it (RUNNING)', async () => {
      await ok(['task', 'pause', id]);
      assert.equal((await status(id))?.status, 'PAUSED');
      assert.match(freezerState(pid), /^(FROZEN|1)$/);
      await ok(['task', 'resume', id]);
      assert.equal((await status(id))?.status, 'RUNNING');
      assert.match(freezerState(pid), /^(THAWED|0)$/);
      // Alive and answering after the thaw.
      const r = await c(['task', 'exec', '--exec-id', 'after-resume', id, 'echo', 'thawed']);
      assert.equal(r.stdout, 'thawed\n', r.stderr);
    });

    it('ctr task metrics prints the cgroup metrics table, and JSON with --format json', async () => {
      const out = await ok(['task', 'metrics', id]);
      const rows = table(out);
      assert.deepEqual(rows[0], ['ID', 'TIMESTAMP'], out);
      assert.equal(rows[1]?.[0], id, out);
      const at = rows.findIndex((r) => r.join(' ') === 'METRIC VALUE');
      assert.ok(at > 1, `no METRIC VALUE table:\n${out}`);
      const metrics = new Map(rows.slice(at + 1).map((r) => [r[0], r.slice(1).join(' ')]));
      assert.equal(metrics.get('pids.current'), '1', out);
      if (cgroupV1) {
        assert.ok(Number(metrics.get('memory.usage_in_bytes')) > 0, out);
        assert.ok(Number(metrics.get('cpuacct.usage')) > 0, out);
      } else {
        assert.ok(Number(metrics.get('memory.usage')) > 0, out);
      }

      const json = JSON.parse(await ok(['task', 'metrics', '--format', 'json', id])) as {
        pids?: { current?: number };
        memory?: Record<string, unknown>;
        cpu?: { usage?: { total?: number } };
      };
      assert.equal(json.pids?.current, 1, JSON.stringify(json));
      assert.ok(json.memory, 'memory metrics');
      if (cgroupV1) assert.ok((json.cpu?.usage?.total ?? 0) > 0, JSON.stringify(json.cpu));
    });

    it('SIGTERM ends a detached exec (ctr task rm --exec-id exits 143)', async (t) => {
      const fifoDirsBefore = new Set(entriesOf(CTR_FIFO_DIR));
      await ok(['task', 'exec', '-d', '--exec-id', 'e2', id, 'sleep', '1000']);
      // ctr 1.6 leaves a detached exec's FIFOs behind (against containerd too).
      t.after(() => removeExecFifos(fifoDirsBefore, 'e2'));
      const pids = psPids(await ok(['task', 'ps', id]));
      assert.equal(pids.length, 2, JSON.stringify(pids));
      const execPid = pids.find((p) => p !== pid) ?? 0;
      assert.deepEqual(cmdline(execPid), ['sleep', '1000']);

      await ok(['task', 'kill', '-s', 'SIGTERM', '--exec-id', 'e2', id]);
      await waitFor('the exec to exit', () => !alive(execPid));
      const r = await c(['task', 'rm', '--exec-id', 'e2', id]);
      assert.equal(r.code, 128 + 15, `${r.stdout}${r.stderr}`);
      assert.deepEqual(psPids(await ok(['task', 'ps', id])), [pid]);
    });

    it('SIGTERM leaves the init (pid 1, no handler); SIGKILL ends it; task rm shows 137; containers rm', async () => {
      await ok(['task', 'kill', '-s', 'SIGTERM', id]);
      // The kernel drops signals a pid namespace's init has no handler for.
      await new Promise((r) => setTimeout(r, 500));
      assert.ok(alive(pid));
      assert.equal((await status(id))?.status, 'RUNNING');

      const early = await c(['task', 'rm', id]);
      assert.notEqual(early.code, 0, 'a running task cannot be deleted');
      assert.match(
        early.stderr,
        /task must be stopped before deletion: running: failed precondition/,
      );

      await ok(['task', 'kill', '-s', 'SIGKILL', id]);
      await waitFor('STOPPED', async () => (await status(id))?.status === 'STOPPED');
      assert.ok(!alive(pid));
      const r = await c(['task', 'rm', id]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, new RegExp(`task ${id} exit with non-zero exit code 137`));
      assert.equal(await status(id), undefined);
      await ok(['containers', 'rm', id]);
      assert.ok(!(await ok(['containers', 'ls', '-q'])).includes(id));
    });
  });

  it('ctr events shows create, start, exec-added, exec-started, exit, paused, resumed, exit, delete', async () => {
    const id = uniqueId('events');
    const events = await ctrEvents(d.socket);
    background.push(events);

    await ok(['run', '-d', image, id, 'sleep', '1000']);
    const pid = (await status(id))?.pid;
    assert.equal((await c(['task', 'exec', '--exec-id', 'e1', id, 'echo', 'hi'])).stdout, 'hi\n');
    await ok(['task', 'pause', id]);
    await ok(['task', 'resume', id]);
    await ok(['task', 'kill', '-s', 'SIGKILL', id]);
    await waitFor('STOPPED', async () => (await status(id))?.status === 'STOPPED');
    await c(['task', 'rm', id]);
    await ok(['containers', 'rm', id]);
    await events.waitOutput('/tasks/delete', (o) =>
      o.includes(`/tasks/delete {"container_id":"${id}"`),
    );
    events.kill('SIGTERM');
    await events.exited;

    const mine = parseEvents(events.stdout).filter(
      (e) => e.topic.startsWith('/tasks/') && e.body.container_id === id,
    );
    assert.deepEqual(
      mine.map((e) => e.topic),
      [
        '/tasks/create',
        '/tasks/start',
        '/tasks/exec-added',
        '/tasks/exec-started',
        '/tasks/exit',
        '/tasks/paused',
        '/tasks/resumed',
        '/tasks/exit',
        '/tasks/delete',
      ],
      events.stdout,
    );
    const [create, start, added, started, execExit, , , exit, deleted] = mine.map((e) => e.body);
    assert.equal(create?.pid, pid);
    assert.equal(start?.pid, pid);
    assert.equal(added?.exec_id, 'e1');
    assert.equal(started?.exec_id, 'e1');
    assert.ok(typeof started?.pid === 'number' && started.pid !== pid, JSON.stringify(started));
    assert.equal(execExit?.id, 'e1');
    assert.equal(execExit?.pid, started?.pid);
    assert.equal(execExit?.exit_status ?? 0, 0);
    assert.equal(exit?.id, id);
    assert.equal(exit?.pid, pid);
    assert.equal(exit?.exit_status, 137);
    assert.equal(deleted?.pid, pid);
    assert.equal(deleted?.exit_status, 137);
  });

  it('ctr run --runtime io.containerd.runtime.v1.linux runs the task with runc (the deprecated v1 runtime)', {
    skip:
      e2eRuntime() !== undefined &&
      `names its own runtime (v1, run by the runc shim): nothing of ${e2eRuntime()} to test`,
  }, async () => {
    const v1 = ['--runtime', 'io.containerd.runtime.v1.linux'];
    const echo = uniqueId('v1-echo');
    const r = await c(['run', '--rm', ...v1, image, echo, 'echo', 'hello']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'hello\n');

    const id = uniqueId('v1-sleep');
    assert.equal(await ok(['run', '-d', ...v1, image, id, 'sleep', '1000']), '');
    try {
      const t = await status(id);
      assert.equal(t?.status, 'RUNNING', JSON.stringify(t));
      assert.deepEqual(cmdline(t.pid), ['sleep', '1000']);
      // runc keeps it where the daemon's runc tasks are (berthd: its own runc root).
      assert.ok(existsSync(join(runcRoot(d), 'default', id, 'state.json')));
      await ok(['task', 'kill', '-s', 'SIGKILL', id]);
      await waitFor('STOPPED', async () => (await status(id))?.status === 'STOPPED');
      const rm = await c(['task', 'rm', id]);
      assert.match(rm.stderr, new RegExp(`task ${id} exit with non-zero exit code 137`));
    } finally {
      await c(['task', 'rm', '-f', id]);
      await c(['containers', 'rm', id]);
    }
    assert.equal(await status(id), undefined);
  });
});

/** Where ctr 1.6 makes its FIFO sets, whatever the daemon's paths. */
const CTR_FIFO_DIR = '/run/containerd/fifo';

/**
 * Removes the FIFO set ctr made for exec `execId` since `before`: only a
 * new directory directly under {@link CTR_FIFO_DIR} holding nothing but
 * that exec's three FIFOs, one entry at a time (no recursive delete).
 */
function removeExecFifos(before: ReadonlySet<string>, execId: string): void {
  const names = ['stdin', 'stdout', 'stderr'].map((s) => `${execId}-${s}`);
  for (const d of entriesOf(CTR_FIFO_DIR)) {
    if (before.has(d) || !/^\d+$/.test(d)) continue;
    const dir = join(CTR_FIFO_DIR, d);
    const entries = readdirSync(dir);
    const ours =
      entries.length > 0 &&
      entries.every((e) => names.includes(e) && statSync(join(dir, e)).isFIFO());
    if (!ours) continue;
    for (const e of entries) unlinkSync(join(dir, e));
    rmdirSync(dir);
  }
}
