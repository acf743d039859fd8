/**
 * berthd's spare shim (src/shim/spare.ts, src/runtime/v2/spare-shim.ts):
 * berthd keeps one idle daemon of berth's shim; the next container whose
 * group has no shim is handed to it, and from then on it is that group's
 * shim like any other (stderr the bundle's log, exits after its last
 * container). A spare ends with berthd (stopped or killed) and never takes a
 * container with it; `spare_shim = false` turns it off. berthd only:
 * containerd runs `start` for every container and has no spares.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { niceOf } from '../../src/sys/process.js';
import { Berthd } from '../helpers/berthd.js';
import { ctrAsync, ctrOkAsync, taskList } from '../helpers/ctr.js';
import {
  alive,
  cmdline,
  daemonKind,
  parentOf,
  shimPids,
  spareShimPids,
  startDaemon,
  type TestDaemon,
  uniqueId,
  waitFor,
} from '../helpers/daemon.js';
import { buildAndPush, busyboxImage } from '../helpers/images.js';
import { Registry } from '../helpers/registry.js';
import { BERTH_RUNTIME, GROUP_ANNOTATION } from '../helpers/runtime.js';
import { shimsServing } from '../helpers/shims.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';

const root = process.getuid?.() === 0;
const skip = !root ? 'needs root' : daemonKind() !== 'berthd' ? 'berthd only' : false;

/** The distinct nice values of the threads of `pid`. */
function nices(pid: number): number[] {
  return [...new Set(readdirSync(`/proc/${pid}/task`).map((tid) => niceOf(Number(tid))))];
}

describe("berthd's spare shim", { skip }, () => {
  let work: TempDir;
  let reg: Registry;
  let image: string;
  let d: TestDaemon;
  const c = (args: string[]) => ctrAsync(d.socket, args);
  const ok = (args: string[]) => ctrOkAsync(d.socket, args);

  /** `ctr run -d` of a `sleep` on berth's shim in a group of its own; answers the init's pid. */
  async function runInGroup(socket: string, id: string, group: string): Promise<number> {
    await ctrOkAsync(socket, [
      'run',
      '-d',
      '--runtime',
      BERTH_RUNTIME,
      '--annotation',
      `${GROUP_ANNOTATION}=${group}`,
      image,
      id,
      'sleep',
      '1000',
    ]);
    const t = (await taskList(socket)).find((x) => x.id === id);
    assert.equal(t?.status, 'RUNNING', `${id}: ${JSON.stringify(t)}`);
    return t.pid;
  }

  async function remove(socket: string, id: string): Promise<void> {
    await ctrOkAsync(socket, ['tasks', 'kill', '-s', 'SIGKILL', id]);
    await ctrOkAsync(socket, ['tasks', 'rm', '-f', id]).catch(() => {});
    await ctrOkAsync(socket, ['containers', 'rm', id]);
  }

  async function oneSpare(socket: string, not?: number): Promise<number> {
    let spare = 0;
    await waitFor(
      'one idle spare shim',
      () => {
        const s = spareShimPids(socket);
        spare = s[0] ?? 0;
        return s.length === 1 && spare !== not;
      },
      10_000,
    );
    return spare;
  }

  before(async () => {
    work = tempDir();
    reg = await Registry.start(work);
    image = (await buildAndPush(work, reg, busyboxImage(), 'berth/spare:v1')).pushed.ref;
    d = await startDaemon('berthd');
    await ok(['images', 'pull', '--plain-http', image]);
  });
  after(async () => {
    await d?.cleanup();
    await reg?.stop();
    work?.remove();
  });

  it('berthd keeps one idle spare of its own, not its child, serving nothing', async () => {
    const spare = await oneSpare(d.socket);
    const argv = cmdline(spare) ?? [];
    assert.ok(argv.includes('-spare'), argv.join(' '));
    assert.equal(argv[argv.indexOf('-address') + 1], d.socket);
    assert.notEqual(parentOf(spare), d.pid, 'a spare outlives berthd as any shim does');
    assert.deepEqual(shimPids(d.socket), [], 'an idle spare serves no container');
    assert.deepEqual(nices(spare), [19], "an idle spare's node start yields to everything else");
  });

  it("a new group takes the spare (the shim's log then reaches berthd); the next spare follows", async () => {
    const spare = await oneSpare(d.socket);
    const mark = d.output.length;
    const id = uniqueId('spare-a');
    const pid = await runInGroup(d.socket, id, uniqueId('g-a'));
    assert.deepEqual(shimsServing([pid], BERTH_RUNTIME), [spare], 'the spare serves the container');
    const own = niceOf(d.pid);
    assert.deepEqual(nices(spare), [own], "the adopted shim runs at berthd's priority");
    assert.deepEqual(nices(pid), [own], 'and so does its container');
    const next = await oneSpare(d.socket, spare);
    assert.notEqual(next, spare);
    // The adopted daemon's stderr is the bundle's log FIFO: its first line names the group socket.
    await waitFor('the shim log in berthd', () => d.output.slice(mark).includes('shim serving'));
    const r = await c(['task', 'exec', '--exec-id', 'e1', id, 'echo', 'from the spare']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'from the spare\n');
    // A second container of the group joins that shim, and leaves the new spare idle.
    const id2 = uniqueId('spare-a2');
    const group = (await ok(['containers', 'info', id])).match(
      new RegExp(`"${GROUP_ANNOTATION.replaceAll('.', '\\.')}": "([^"]+)"`),
    )?.[1];
    assert.ok(group, 'the group annotation in the container spec');
    const pid2 = await runInGroup(d.socket, id2, group);
    assert.deepEqual(shimsServing([pid2], BERTH_RUNTIME), [spare]);
    assert.deepEqual(spareShimPids(d.socket), [next]);
    // The group's shim exits after its last container, as one started for it does.
    await remove(d.socket, id);
    await remove(d.socket, id2);
    await waitFor('the adopted shim to exit', () => !alive(spare), 10_000);
    assert.ok(alive(next), 'the spare stays');
  });

  it('kill -9 of berthd ends the idle spare, not the group shims; the restarted berthd reconnects and has a spare again', async () => {
    const id = uniqueId('spare-b');
    const pid = await runInGroup(d.socket, id, uniqueId('g-b'));
    const [shim] = shimsServing([pid], BERTH_RUNTIME);
    const spare = await oneSpare(d.socket);
    assert.notEqual(spare, shim);

    await d.kill9();
    await waitFor('the idle spare to end with berthd', () => !alive(spare), 10_000);
    assert.ok(shim !== undefined && alive(shim), 'the group shim lives on');
    assert.ok(alive(pid), 'its container lives on');

    await d.restart();
    const t = (await taskList(d.socket)).find((x) => x.id === id);
    assert.deepEqual(t, { id, pid, status: 'RUNNING' });
    const again = await oneSpare(d.socket, spare);
    assert.notEqual(again, shim);
    await remove(d.socket, id);
    await waitFor('the group shim to exit', () => shim === undefined || !alive(shim), 10_000);
  });

  it('a stopped berthd leaves no spare behind', async () => {
    const spare = await oneSpare(d.socket);
    await d.stop();
    await waitFor('the spare to end', () => !alive(spare), 10_000);
    await d.restart();
  });

  it('spare_shim = false: no spare; a new group starts its own daemon', async () => {
    const off = await Berthd.start({
      configToml: 'version = 2\n[plugins."io.containerd.runtime.v2.task"]\nspare_shim = false\n',
    });
    try {
      await ctrOkAsync(off.socket, ['images', 'pull', '--plain-http', image]);
      await new Promise((r) => setTimeout(r, 1000));
      assert.deepEqual(spareShimPids(off.socket), []);
      const id = uniqueId('nospare');
      const pid = await runInGroup(off.socket, id, uniqueId('g-c'));
      const [shim] = shimsServing([pid], BERTH_RUNTIME);
      assert.ok(shim !== undefined && !(cmdline(shim) ?? []).includes('-spare'));
      assert.deepEqual(spareShimPids(off.socket), [], 'still none after a group started');
      await remove(off.socket, id);
      await waitFor('the shim to exit', () => shim === undefined || !alive(shim), 10_000);
    } finally {
      await off.cleanup();
    }
  });
});
