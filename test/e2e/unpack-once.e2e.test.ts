import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Berthd } from '../helpers/berthd.js';
import { CTR17, containerd17Missing } from '../helpers/containerd.js';
import { ctrAsync, ctrOkAsync, table } from '../helpers/ctr.js';
import { uniqueId } from '../helpers/daemon.js';
import { type BuiltImage, buildAndPush, multiLayerImage, type Pushed } from '../helpers/images.js';
import { Registry } from '../helpers/registry.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';

const root = process.getuid?.() === 0;
const MiB = 1 << 20;
const NAMESPACES = ['unpack-1', 'unpack-2', 'unpack-3', 'unpack-4'];

/** multiLayerImage's three layers (busybox, files, whiteouts) and two of random MiBs. */
function fiveLayers() {
  const spec = multiLayerImage();
  return {
    ...spec,
    layers: [
      ...spec.layers,
      ...[4, 3].map((mib, i) => ({
        createdBy: `bulk ${i + 1}: ${mib} MiB`,
        entries: [
          { type: 'file' as const, path: `bulk/${i + 1}.bin`, content: randomBytes(mib * MiB) },
          ...Array.from({ length: 50 }, (_, j) => ({
            type: 'file' as const,
            path: `bulk/${i + 1}/f${j}.txt`,
            content: `bulk ${i + 1} file ${j}\n`,
          })),
        ],
      })),
    ],
  };
}

/** The overlayfs snapshotter's snapshot directories: one per backend snapshot. */
function backendSnapshots(d: Berthd): string[] {
  return readdirSync(join(d.root, 'io.containerd.snapshotter.v1.overlayfs', 'snapshots'));
}

async function snapshotRows(d: Berthd, ns: string): Promise<string[][]> {
  return table(await ctrOkAsync(d.socket, ['snapshots', 'ls'], { namespace: ns })).slice(1);
}

async function assertComplete(d: Berthd, ns: string, ref: string): Promise<void> {
  const rows = table(await ctrOkAsync(d.socket, ['images', 'check'], { namespace: ns }));
  const row = rows.find((r) => r[0] === ref);
  const m = /complete \((\d+)\/(\d+)\)/.exec(row?.slice(3).join(' ') ?? '');
  assert.ok(m && m[1] === m[2], `${ns}: ${ref} is complete: ${JSON.stringify(rows)}`);
}

/** `ctr run --rm` of the image: the merged layers as the image says (b.txt, no a.txt, new.txt alone). */
async function assertRuns(d: Berthd, ns: string, ref: string): Promise<void> {
  const out = await ctrOkAsync(
    d.socket,
    [
      'run',
      '--rm',
      ref,
      uniqueId('unpack'),
      'sh',
      '-c',
      'cat /etc/berth/b.txt; ls /etc/berth; ls /data/dir; wc -c < /bulk/2.bin',
    ],
    { namespace: ns, timeoutMs: 60_000 },
  );
  assert.deepEqual(out.trim().split(/\s+/), ['b', 'b.txt', 'new.txt', String(3 * MiB)], ns);
}

describe('each layer unpacked once: 4 concurrent ctr 1.6 pulls into 4 namespaces', {
  skip: !root && 'needs root',
}, () => {
  let dir: TempDir;
  let reg: Registry;
  let img: BuiltImage & { pushed: Pushed };
  let d: Berthd;

  before(async () => {
    dir = tempDir();
    reg = await Registry.start(dir);
    img = await buildAndPush(dir, reg, fiveLayers(), 'berth/unpack-once:v1');
    d = await Berthd.start({ args: ['--log-level', 'debug'] });
  });
  after(async () => {
    await d?.cleanup();
    await reg?.stop();
    dir?.remove();
  });

  it('applies each layer once; every namespace has the whole chain and runs the image', async () => {
    const ref = img.pushed.ref;
    const t0 = performance.now();
    await Promise.all(
      NAMESPACES.map((ns) =>
        ctrOkAsync(d.socket, ['images', 'pull', '--plain-http', ref], {
          namespace: ns,
          timeoutMs: 180_000,
        }),
      ),
    );
    const seconds = (performance.now() - t0) / 1000;
    const shared = d.output
      .split('\n')
      .filter((l) => l.includes('snapshot unpacked in another namespace recorded')).length;
    console.log(
      `4 pulls in ${seconds.toFixed(2)} s; ${backendSnapshots(d).length} backend snapshots; ${shared} layers recorded from another namespace`,
    );
    assert.equal(backendSnapshots(d).length, img.layers.length, 'one backend snapshot per layer');
    assert.equal(shared, img.layers.length * (NAMESPACES.length - 1));
    for (const ns of NAMESPACES) {
      await assertComplete(d, ns, ref);
      const rows = await snapshotRows(d, ns);
      assert.equal(rows.length, img.layers.length, `${ns}: ${JSON.stringify(rows)}`);
      assert.ok(
        rows.every((r) => r.at(-1) === 'Committed'),
        `${ns}: ${JSON.stringify(rows)}`,
      );
      await assertRuns(d, ns, ref);
    }
    assert.equal(backendSnapshots(d).length, img.layers.length, 'run --rm left nothing');
  });

  it('removing the image in one namespace keeps the others working; the last removal frees the layers', async () => {
    const ref = img.pushed.ref;
    const [first, second, ...rest] = NAMESPACES as [string, string, ...string[]];
    await ctrOkAsync(d.socket, ['images', 'rm', '--sync', ref], { namespace: first });
    assert.deepEqual(await snapshotRows(d, first), []);
    assert.equal(backendSnapshots(d).length, img.layers.length);
    await assertRuns(d, second, ref);
    const top = (await snapshotRows(d, second))[0]?.[0] ?? '';
    const info = JSON.parse(
      await ctrOkAsync(d.socket, ['snapshots', 'info', top], { namespace: second }),
    );
    assert.equal(info.Kind, 'Committed');
    const usage = table(await ctrOkAsync(d.socket, ['snapshots', 'usage'], { namespace: second }));
    assert.equal(usage.length - 1, img.layers.length, JSON.stringify(usage));
    for (const ns of [second, ...rest]) {
      await ctrOkAsync(d.socket, ['images', 'rm', '--sync', ref], { namespace: ns });
      assert.deepEqual(await snapshotRows(d, ns), []);
    }
    assert.deepEqual(backendSnapshots(d), [], 'no backend snapshot left');
  });

  it('kill -9 in the middle of the four unpacks loses nothing and leaks nothing', async () => {
    const ref = img.pushed.ref;
    const kdir = tempDir();
    const args = ['--log-level', 'debug'];
    let k = await Berthd.start({ dir: kdir, args });
    try {
      const pulls = NAMESPACES.map((ns) =>
        ctrAsync(k.socket, ['images', 'pull', '--plain-http', ref], { namespace: ns }),
      );
      const shared = () => k.output.includes('snapshot unpacked in another namespace recorded');
      for (let i = 0; i < 3000 && !shared(); i++) await new Promise((r) => setTimeout(r, 5));
      assert.ok(shared(), 'killed while layers were being shared');
      await k.kill9();
      await Promise.all(pulls);
      k = await Berthd.start({ dir: kdir, args });
      await Promise.all(
        NAMESPACES.map((ns) =>
          ctrOkAsync(k.socket, ['images', 'pull', '--plain-http', ref], {
            namespace: ns,
            timeoutMs: 180_000,
          }),
        ),
      );
      for (const ns of NAMESPACES) {
        await assertComplete(k, ns, ref);
        await assertRuns(k, ns, ref);
      }
      console.log(
        `after the restart and the pulls again: ${backendSnapshots(k).length} backend snapshots`,
      );
      // The killed pulls' leases (ctr's expire in 24 h) hold what they had made.
      for (const ns of NAMESPACES) {
        const ls = table(await ctrOkAsync(k.socket, ['leases', 'ls'], { namespace: ns })).slice(1);
        for (const [id] of ls) {
          await ctrOkAsync(k.socket, ['leases', 'rm', '--sync', id!], { namespace: ns });
        }
        await ctrOkAsync(k.socket, ['images', 'rm', '--sync', ref], { namespace: ns });
      }
      for (const ns of NAMESPACES) assert.deepEqual(await snapshotRows(k, ns), [], ns);
      assert.deepEqual(backendSnapshots(k), [], 'no backend snapshot left');
    } finally {
      await k.cleanup();
    }
  });
});

describe('each layer unpacked once: 4 concurrent ctr 1.7 --local=false pulls (the Transfer service)', {
  skip: !root ? 'needs root' : containerd17Missing(),
}, () => {
  let dir: TempDir;
  let reg: Registry;
  let img: BuiltImage & { pushed: Pushed };
  let d: Berthd;

  before(async () => {
    dir = tempDir();
    reg = await Registry.start(dir);
    img = await buildAndPush(dir, reg, fiveLayers(), 'berth/unpack-once-transfer:v1');
    d = await Berthd.start({ args: ['--log-level', 'debug'] });
  });
  after(async () => {
    await d?.cleanup();
    await reg?.stop();
    dir?.remove();
  });

  it("berth's own unpack (labelled Prepare) applies each layer once", async () => {
    const ref = img.pushed.ref;
    await Promise.all(
      NAMESPACES.map((ns) =>
        ctrOkAsync(
          d.socket,
          ['images', 'pull', '--local=false', '--platform', 'linux/amd64', ref],
          { bin: CTR17, namespace: ns, timeoutMs: 180_000 },
        ),
      ),
    );
    const shared = d.output
      .split('\n')
      .filter((l) => l.includes('snapshot unpacked in another namespace recorded')).length;
    console.log(
      `transfer: ${backendSnapshots(d).length} backend snapshots; ${shared} layers recorded from another namespace`,
    );
    assert.equal(backendSnapshots(d).length, img.layers.length, 'one backend snapshot per layer');
    // The pull fetches the layers it found unpacked too: every image complete.
    for (const ns of NAMESPACES) {
      await assertComplete(d, ns, ref);
      assert.equal((await snapshotRows(d, ns)).length, img.layers.length, ns);
      await assertRuns(d, ns, ref);
    }
  });
});
