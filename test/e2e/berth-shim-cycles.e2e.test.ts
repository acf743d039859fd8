/**
 * Issue 14's leak acceptance for a grouped shim: 100 cycles of run, exec
 * and delete in one group, whose shim stays alive throughout (a long-running
 * container of the group keeps it), leave no process, FIFO, mount, runc
 * state or fd behind: the shim's open fds and children, and the mounts
 * under the daemon's directories, are the same before and after.
 * The runtime is SHIM_RUNTIME (test/helpers/shims.ts).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ctrAsync, ctrOkAsync, taskList } from '../helpers/ctr.js';
import {
  alive,
  bundles,
  daemonKind,
  descendants,
  entriesOf,
  fdTargets,
  mountsUnder,
  startDaemonWithImage,
  type TestDaemon,
  uniqueId,
} from '../helpers/daemon.js';
import { GROUP_ANNOTATION } from '../helpers/runtime.js';
import { runcRootFor, SHIM_RUNTIME, shimsServing } from '../helpers/shims.js';

const root = process.getuid?.() === 0;
const kind = daemonKind();
const CYCLES = 100;
const NS = 'default';
/** Where ctr 1.6 makes the FIFO sets of `run` and `task exec`, whatever the daemon. */
const CTR_FIFO_DIR = '/run/containerd/fifo';

/** FIFOs under {@link CTR_FIFO_DIR} whose names start with `prefix` (ctr names them `<id>-stdout`…). */
function fifosNamed(prefix: string): string[] {
  return entriesOf(CTR_FIFO_DIR).flatMap((d) =>
    entriesOf(join(CTR_FIFO_DIR, d))
      .filter((f) => f.startsWith(prefix))
      .map((f) => join(CTR_FIFO_DIR, d, f)),
  );
}

/** What a shim holds, for comparing before and after. */
interface ShimView {
  fds: string[];
  children: number[];
}

function viewOf(shim: number, except: number[]): ShimView {
  return {
    // Sorted fd targets: a socket or pipe shows as `socket:[inode]`, counted by kind.
    fds: fdTargets(shim)
      .map((t) => t.replace(/\[\d+\]$/, '[]'))
      .sort(),
    children: descendants(shim)
      .filter((p) => !except.includes(p))
      .sort((a, b) => a - b),
  };
}

describe(`${CYCLES} run/exec/delete cycles in one group (${kind}, ${SHIM_RUNTIME})`, {
  skip: !root && 'needs root',
}, () => {
  let d: TestDaemon;
  let image: string;
  const prefix = uniqueId('cyc');
  const group = `${prefix}-group`;
  const ok = (args: string[]) => ctrOkAsync(d.socket, args, { timeoutMs: 60_000 });
  const run = (id: string, cmd: string[]) =>
    ok([
      'run',
      '-d',
      '--runtime',
      SHIM_RUNTIME,
      '--annotation',
      `${GROUP_ANNOTATION}=${group}`,
      image,
      id,
      ...cmd,
    ]);

  before(async () => {
    ({ d, image } = await startDaemonWithImage());
  });
  after(async () => {
    await d?.cleanup();
  });

  /** One cycle: run -d, exec (its output checked), kill and delete the task, delete the container. */
  async function cycle(id: string): Promise<void> {
    await run(id, ['sleep', '1000']);
    const r = await ctrAsync(d.socket, ['task', 'exec', '--exec-id', `${id}-x`, id, 'echo', id]);
    assert.equal(r.code, 0, `${id}: ${r.stdout}${r.stderr}`);
    assert.equal(r.stdout, `${id}\n`);
    // -f: kill, wait for the exit, delete.
    await ok(['task', 'rm', '-f', id]);
    await ok(['containers', 'rm', id]);
  }

  it('leaves the shim with the fds and children it had, and no FIFO, mount, bundle or runc state', async (t) => {
    const keeper = `${prefix}-keeper`;
    await run(keeper, ['sleep', '1000']);
    const keeperPid = (await taskList(d.socket)).find((x) => x.id === keeper)?.pid ?? 0;
    const [shim] = shimsServing([keeperPid], SHIM_RUNTIME);
    assert.ok(shim !== undefined);
    // One cycle first, so what the shim opens once (runc's log, a socket…) is in the baseline.
    await cycle(`${prefix}-warm`);
    // ctr's FIFOs are where fifosNamed looks: the keeper's three are there.
    assert.deepEqual(
      fifosNamed(prefix)
        .map((f) => f.slice(f.lastIndexOf('/') + 1))
        .sort(),
      ['stderr', 'stdin', 'stdout'].map((s) => `${keeper}-${s}`),
    );
    const before = viewOf(shim, [keeperPid]);
    const mountsBefore = mountsUnder(d.dir.path).sort();
    const runcBefore = entriesOf(join(runcRootFor(d, SHIM_RUNTIME), NS)).sort();
    assert.deepEqual(
      runcBefore.filter((x) => x.startsWith(prefix)),
      [keeper],
    );

    const t0 = performance.now();
    for (let i = 0; i < CYCLES; i++) {
      const id = `${prefix}-${i}`;
      await cycle(id);
    }
    const ms = performance.now() - t0;
    t.diagnostic(
      `${kind}, ${SHIM_RUNTIME}: ${CYCLES} cycles in ${(ms / 1000).toFixed(1)} s (${(ms / CYCLES).toFixed(0)} ms each)`,
    );

    assert.ok(alive(shim) && alive(keeperPid), 'the shim and the keeper live');
    assert.deepEqual(shimsServing([keeperPid], SHIM_RUNTIME), [shim]);
    const afterView = viewOf(shim, [keeperPid]);
    t.diagnostic(`shim fds: ${before.fds.length} before, ${afterView.fds.length} after`);
    assert.deepEqual(afterView.children, before.children, 'processes left below the shim');
    assert.deepEqual(afterView.fds, before.fds, 'the shim holds other fds than before');
    assert.deepEqual(mountsUnder(d.dir.path).sort(), mountsBefore, 'mounts left');
    assert.deepEqual(entriesOf(join(runcRootFor(d, SHIM_RUNTIME), NS)).sort(), runcBefore);
    assert.deepEqual(
      bundles(d.state).map((b) => b.id),
      [keeper],
      'bundles left',
    );
    assert.deepEqual(
      (await taskList(d.socket)).map((x) => x.id),
      [keeper],
    );
    assert.equal(await ok(['containers', 'ls', '-q']), `${keeper}\n`);
    // ctr makes and removes the FIFOs; the shim must not keep one open (fds above) nor make its own.
    const fifos = fifosNamed(prefix).filter((f) => !f.includes(`/${keeper}-`));
    assert.deepEqual(fifos, [], 'FIFOs left');
  });
});
