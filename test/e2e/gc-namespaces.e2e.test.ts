import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ctrAsync, ctrOkAsync, table } from '../helpers/ctr.js';
import {
  bundles,
  daemonKind,
  entriesOf,
  mountsUnder,
  startDaemon,
  type TestDaemon,
  uniqueId,
} from '../helpers/daemon.js';
import { buildAndPush, busyboxImage, type Pushed } from '../helpers/images.js';
import { Registry } from '../helpers/registry.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';

const root = process.getuid?.() === 0;
const kind = daemonKind();
/** Cycles of pull, run --rm, images rm, namespaces rm; `BERTH_GC_CYCLES` overrides. */
const CYCLES = Number(process.env.BERTH_GC_CYCLES ?? 30);
/** containerd only: how long `namespaces rm` is retried before a collection is forced. */
const CONTAINERD_RETRY_MS = 2_000;

/**
 * Garbage is collected soon after it is made (issue 10, item 7): in a fresh
 * namespace each time, pull an image, `ctr run --rm` it, `ctr images rm` it
 * without --sync and `ctr namespaces rm` the namespace. On berthd every
 * `namespaces rm` succeeds at the first try (it collects before it judges
 * emptiness), and nothing is left on disk after it: no blob, ingest,
 * snapshot directory, bundle or mount.
 *
 * containerd does not collect before a namespace delete: it refuses until
 * its scheduler has run. Against it (`BERTH_E2E_DAEMON=containerd`) the test
 * retries for a while, then forces a collection (a `leases rm --sync`), and
 * reports the counts instead of asserting the first try.
 */
describe(`namespaces rm after images rm and run --rm (${kind})`, {
  skip: !root && 'needs root',
}, () => {
  let dir: TempDir;
  let reg: Registry | undefined;
  let d: TestDaemon;
  let ref: string;
  const content = () => join(d.root, 'io.containerd.content.v1.content');
  const onDisk = () => ({
    blobs: entriesOf(join(content(), 'blobs', 'sha256')),
    ingests: entriesOf(join(content(), 'ingest')),
    snapshots: entriesOf(join(d.root, 'io.containerd.snapshotter.v1.overlayfs', 'snapshots')),
    bundles: bundles(d.state).map((b) => `${b.namespace}/${b.id}`),
    mounts: [...mountsUnder(d.root), ...mountsUnder(d.state)],
  });
  const nothing = { blobs: [], ingests: [], snapshots: [], bundles: [], mounts: [] };

  before(async () => {
    dir = tempDir();
    reg = await Registry.start(dir);
    const img: { pushed: Pushed } = await buildAndPush(dir, reg, busyboxImage(), 'berth/gc:v1');
    ref = img.pushed.ref;
    d = await startDaemon(kind);
  });
  after(async () => {
    await d?.cleanup();
    await reg?.stop();
    dir?.remove();
  });

  it(`${CYCLES} cycles: every namespaces rm succeeds and leaves nothing on disk`, async (t) => {
    assert.deepEqual(onDisk(), nothing, 'a fresh daemon holds nothing');
    let firstTry = 0;
    let retried = 0;
    let forced = 0;
    const refusals: string[] = [];
    for (let i = 0; i < CYCLES; i++) {
      const namespace = `gc-${process.pid}-${i}`;
      const opts = { namespace, timeoutMs: 60_000 };
      await ctrOkAsync(d.socket, ['images', 'pull', '--plain-http', ref], opts);
      const run = await ctrAsync(d.socket, ['run', '--rm', ref, uniqueId(`gc${i}`), 'true'], opts);
      assert.equal(run.code, 0, `cycle ${i}: ${run.stdout}${run.stderr}`);
      await ctrOkAsync(d.socket, ['images', 'rm', ref], opts);

      const rm = await ctrAsync(d.socket, ['namespaces', 'rm', namespace]);
      if (rm.code === 0) {
        firstTry++;
      } else if (kind === 'berthd') {
        refusals.push(`cycle ${i}: ${rm.stderr.trim()}`);
      } else {
        const deadline = performance.now() + CONTAINERD_RETRY_MS;
        let ok = false;
        while (!ok && performance.now() < deadline) {
          await new Promise((r) => setTimeout(r, 20));
          ok = (await ctrAsync(d.socket, ['namespaces', 'rm', namespace])).code === 0;
        }
        if (ok) retried++;
        else {
          await ctrOkAsync(d.socket, ['leases', 'create', '--id', 'force-gc'], opts);
          await ctrOkAsync(d.socket, ['leases', 'rm', '--sync', 'force-gc'], opts);
          await ctrOkAsync(d.socket, ['namespaces', 'rm', namespace]);
          forced++;
        }
      }
      if (kind === 'berthd') assert.deepEqual(onDisk(), nothing, `left on disk after cycle ${i}`);
    }
    t.diagnostic(
      `${kind}: ${CYCLES} cycles, namespaces rm at the first try ${firstTry}, ` +
        `after retries ${retried}, after a forced collection ${forced}`,
    );
    if (kind === 'berthd') {
      assert.deepEqual(refusals, [], 'every namespaces rm succeeds at the first try');
      assert.equal(firstTry, CYCLES);
    }
    const left = table(await ctrOkAsync(d.socket, ['namespaces', 'ls', '-q']))
      .flat()
      .filter((n) => n.startsWith(`gc-${process.pid}-`));
    assert.deepEqual(left, [], 'namespaces left');
    assert.deepEqual(onDisk(), nothing, 'left on disk at the end');
  });
});
