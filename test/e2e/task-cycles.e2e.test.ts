import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ctrAsync, ctrOkAsync, table, taskList } from '../helpers/ctr.js';
import {
  bundles,
  daemonKind,
  fdCount,
  fdTargets,
  mountsUnder,
  runcRoot,
  shimPids,
  startDaemonWithImage,
  type TestDaemon,
  uniqueId,
  waitFor,
} from '../helpers/daemon.js';
import { runtimeLabel } from '../helpers/runtime.js';

const root = process.getuid?.() === 0;
const kind = daemonKind();
const CYCLES = 100;
/** What the daemon's fd count may grow by over the cycles (pooled connections, a log file…). */
const FD_SLACK = 8;

/** cgroup directories named after `id` (ctr puts a task in /<namespace>/<id> of each controller). */
function cgroupsOf(namespace: string, id: string): string[] {
  return readdirSync('/sys/fs/cgroup')
    .map((controller) => join('/sys/fs/cgroup', controller, namespace, id))
    .filter((p) => existsSync(p));
}

describe(`no leaks across ${CYCLES} task cycles (${kind}${runtimeLabel()})`, {
  skip: !root && 'needs root',
}, () => {
  let d: TestDaemon;
  let image: string;

  before(async () => {
    ({ d, image } = await startDaemonWithImage());
  });
  after(async () => {
    await d?.cleanup();
  });

  it(`${CYCLES} × ctr run --rm <img> c<i> true leave no shim, mount, bundle, snapshot, container, task or fd`, async (t) => {
    const snapshots = async () =>
      table(await ctrOkAsync(d.socket, ['snapshots', 'ls']))
        .slice(1)
        .map((r) => `${r[0]} ${r.at(-1)}`)
        .sort();
    // One cycle first, so what the daemon opens once (databases, the shim binary's
    // first exec…) is counted in the baseline.
    const warm = await ctrAsync(d.socket, ['run', '--rm', image, uniqueId('warm'), 'true']);
    assert.equal(warm.code, 0, warm.stderr);
    const committed = await snapshots();
    assert.ok(
      committed.length > 0 && committed.every((s) => s.endsWith(' Committed')),
      String(committed),
    );
    const fdsBefore = fdCount(d.pid);
    const daemonPid = d.pid;

    const ids = Array.from({ length: CYCLES }, (_, i) => uniqueId(`c${i}`));
    const t0 = performance.now();
    for (const id of ids) {
      const r = await ctrAsync(d.socket, ['run', '--rm', image, id, 'true']);
      assert.equal(r.code, 0, `${id}: ${r.stdout}${r.stderr}`);
      assert.equal(r.stdout, '', id);
    }
    const ms = performance.now() - t0;
    const summary = `${kind}: ${CYCLES} cycles of ctr run --rm in ${(ms / 1000).toFixed(1)} s (${(ms / CYCLES).toFixed(0)} ms each)`;
    t.diagnostic(summary);

    assert.equal(d.pid, daemonPid, 'the daemon did not restart');
    await waitFor('the shims to exit', () => shimPids(d.socket).length === 0, 10_000).catch(() => {
      assert.deepEqual(shimPids(d.socket), [], 'shims left');
    });
    assert.deepEqual(mountsUnder(d.root), [], 'mounts left under the root');
    assert.deepEqual(mountsUnder(d.state), [], 'mounts left under the state');
    assert.deepEqual(bundles(d.state), [], 'bundle directories left');
    assert.deepEqual(await snapshots(), committed, 'snapshots other than the image layers');
    assert.equal(await ctrOkAsync(d.socket, ['containers', 'ls', '-q']), '');
    assert.deepEqual(await taskList(d.socket), []);
    // What the shim and runc keep per task outside the daemon's dirs went too.
    for (const id of ids) {
      assert.ok(!existsSync(join(runcRoot(d), 'default', id)), `runc state left for ${id}`);
      assert.deepEqual(cgroupsOf('default', id), [], `cgroups left for ${id}`);
    }
    const fdsAfter = fdCount(d.pid);
    t.diagnostic(`daemon fds: ${fdsBefore} before, ${fdsAfter} after`);
    assert.ok(
      fdsAfter - fdsBefore <= FD_SLACK,
      `daemon fds grew from ${fdsBefore} to ${fdsAfter}:\n${fdTargets(d.pid).join('\n')}`,
    );
  });
});
