/**
 * Issue 14's isolation within a group: containers and an exec that write
 * without end to outputs nobody reads (`ctr run -d`'s FIFOs once ctr has
 * gone, a TTY, a detached exec) must not stall the shim they share with
 * others: exec, a new container and `ctr task ls` go on answering, the
 * writers are held back (blocked, alive) rather than buffered in the shim,
 * whose memory stays bounded. The runtime is SHIM_RUNTIME.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { type CtrProcess, ctrAsync, ctrOkAsync, ctrTty, table, taskList } from '../helpers/ctr.js';
import {
  alive,
  daemonKind,
  startDaemonWithImage,
  type TestDaemon,
  uniqueId,
} from '../helpers/daemon.js';
import { GROUP_ANNOTATION } from '../helpers/runtime.js';
import { memoryOf, SHIM_RUNTIME, shimsServing } from '../helpers/shims.js';

const root = process.getuid?.() === 0;

/** The state letter of `pid` in /proc/<pid>/stat (R running, S sleeping, …). */
function stateOf(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
}
const kind = daemonKind();
/** How long the writers run while the rest of the group is used. */
const RUNAWAY_MS = 5_000;
/** What the shim's RSS may grow by meanwhile: far less than what the writers write. */
const RSS_SLACK_KIB = 64 * 1024;

describe(`runaway output in a group (${kind}, ${SHIM_RUNTIME})`, {
  skip: !root && 'needs root',
}, () => {
  let d: TestDaemon;
  let image: string;
  const background: CtrProcess[] = [];
  const group = uniqueId('runaway-group');
  const inGroup = ['--runtime', SHIM_RUNTIME, '--annotation', `${GROUP_ANNOTATION}=${group}`];
  const ok = (args: string[]) => ctrOkAsync(d.socket, args);

  before(async () => {
    ({ d, image } = await startDaemonWithImage());
  });
  after(async () => {
    for (const p of background) p.kill('SIGKILL');
    await d?.cleanup();
  });

  it('exec, run --rm and task ls answer while the group writes to outputs nobody reads', async (t) => {
    const keeper = uniqueId('keeper');
    const spew = uniqueId('spew');
    const spewTty = uniqueId('spew-tty');
    await ok(['run', '-d', ...inGroup, image, keeper, 'sleep', '1000']);
    const keeperPid = (await taskList(d.socket)).find((x) => x.id === keeper)?.pid ?? 0;
    const [shim] = shimsServing([keeperPid], SHIM_RUNTIME);
    assert.ok(shim !== undefined);
    const rssBefore = memoryOf(shim).rssKiB;

    // No reader: ctr run -d exits once the task started; its FIFOs stay with the shim.
    await ok(['run', '-d', ...inGroup, image, spew, 'cat', '/dev/zero']);
    const tty = ctrTty(
      d.socket,
      ['run', '-d', '-t', ...inGroup, image, spewTty, 'cat', '/dev/zero'],
      {},
    );
    background.push(tty);
    assert.equal(await tty.exited, 0, `${tty.stdout}${tty.stderr}`);
    await ok(['task', 'exec', '-d', '--exec-id', 'spew', keeper, 'cat', '/dev/zero']);
    const tasks = new Map((await taskList(d.socket)).map((x) => [x.id, x]));
    const writers = [spew, spewTty].map((id) => tasks.get(id)?.pid ?? 0);
    assert.deepEqual(shimsServing(writers, SHIM_RUNTIME), [shim], 'one shim serves the group');
    const execPid = table(await ok(['task', 'ps', keeper]))
      .slice(1)
      .map((r) => Number(r[0]))
      .find((p) => p !== keeperPid);
    assert.ok(execPid !== undefined, 'the exec runs');
    writers.push(execPid);

    const deadline = Date.now() + RUNAWAY_MS;
    let rounds = 0;
    while (Date.now() < deadline) {
      const e = await ctrAsync(d.socket, [
        'task',
        'exec',
        '--exec-id',
        `probe${rounds}`,
        keeper,
        'echo',
        `probe ${rounds}`,
      ]);
      assert.equal(e.code, 0, e.stderr);
      assert.equal(e.stdout, `probe ${rounds}\n`);
      const id = uniqueId(`probe${rounds}`);
      const r = await ctrAsync(d.socket, ['run', '--rm', ...inGroup, image, id, 'echo', id]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `${id}\n`);
      const running = (await taskList(d.socket)).filter((x) => x.status === 'RUNNING');
      assert.deepEqual(running.map((x) => x.id).sort(), [keeper, spew, spewTty].sort());
      rounds++;
    }
    const rssAfter = memoryOf(shim).rssKiB;
    t.diagnostic(`${rounds} rounds; shim RSS ${rssBefore} KiB before, ${rssAfter} KiB after`);
    assert.ok(rounds > 1, 'more than one round');
    // Held back: blocked writing to a full pipe or terminal, not killed, not spinning.
    for (const p of writers) {
      assert.ok(alive(p), `writer ${p} lives`);
      assert.equal(stateOf(p), 'S', `writer ${p} (${readFileSync(`/proc/${p}/wchan`, 'utf8')})`);
    }
    assert.ok(
      rssAfter - rssBefore < RSS_SLACK_KIB,
      `the shim's RSS grew from ${rssBefore} to ${rssAfter} KiB`,
    );

    for (const id of [spew, spewTty, keeper]) await ok(['task', 'rm', '-f', id]);
    await ok(['containers', 'rm', spew, spewTty, keeper]);
    assert.deepEqual(await taskList(d.socket), []);
  });
});
