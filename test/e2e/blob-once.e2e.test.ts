import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Berthd } from '../helpers/berthd.js';
import { Containerd } from '../helpers/containerd.js';
import { ctrOkAsync, ctrSpawn, table } from '../helpers/ctr.js';
import { type BuiltImage, buildAndPush, type ImageSpec, type Pushed } from '../helpers/images.js';
import { Registry } from '../helpers/registry.js';
import { blobGets } from '../helpers/registry-log.js';
import { type TempDir, tempDir } from '../helpers/tmp.js';

const root = process.getuid?.() === 0;
const MiB = 1 << 20;
const NAMESPACES = ['once-1', 'once-2', 'once-3', 'once-4'];

/**
 * Four layers of a few MiB each (random bytes: gzip keeps their size, so
 * each takes a while on the wire) and a few small files.
 */
function fourLayers(): ImageSpec {
  return {
    layers: [6, 5, 4, 3].map((mib, i) => ({
      createdBy: `layer ${i + 1}: ${mib} MiB`,
      entries: [
        { type: 'file' as const, path: `data/l${i + 1}/big.bin`, content: randomBytes(mib * MiB) },
        ...Array.from({ length: 20 }, (_, j) => ({
          type: 'file' as const,
          path: `data/l${i + 1}/small-${j}.txt`,
          content: `layer ${i + 1} file ${j}\n`,
        })),
      ],
    })),
    config: { cmd: ['/data/l1/big.bin'] },
  };
}

/** `ctr -n <ns> images check`: every blob of the image is present (`complete (n/n)`). */
async function assertComplete(socket: string, ns: string, ref: string): Promise<void> {
  const rows = table(await ctrOkAsync(socket, ['images', 'check'], { namespace: ns }));
  const row = rows.find((r) => r[0] === ref);
  assert.ok(row, `${ns}: ${ref} is listed by images check: ${JSON.stringify(rows)}`);
  const status = row.slice(3).join(' ');
  const m = /complete \((\d+)\/(\d+)\)/.exec(status);
  assert.ok(m && m[1] === m[2], `${ns}: ${ref} is complete: ${status}`);
}

/** Pulls `ref` into each of `namespaces` at once; returns each blob's GET count in the registry log. */
async function pullEverywhere(
  socket: string,
  reg: Registry,
  ref: string,
  namespaces: readonly string[] = NAMESPACES,
): Promise<{ gets: Map<string, number>; seconds: number }> {
  const mark = reg.output.length;
  const t0 = performance.now();
  await Promise.all(
    namespaces.map((ns) =>
      ctrOkAsync(socket, ['images', 'pull', '--plain-http', ref], {
        namespace: ns,
        timeoutMs: 180_000,
      }),
    ),
  );
  const seconds = (performance.now() - t0) / 1000;
  // The registry logs a request when it has answered it: give its stderr a moment.
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(reg.output.length < reg.maxOutput, 'the registry log was not cut');
  return { gets: blobGets(reg.output.slice(mark)), seconds };
}

describe('each blob fetched once: 4 concurrent ctr pulls into 4 namespaces', {
  skip: !root && 'needs root',
}, () => {
  let dir: TempDir;
  let reg: Registry;
  let img: BuiltImage & { pushed: Pushed };
  let blobs: string[];

  before(async () => {
    dir = tempDir();
    reg = await Registry.start(dir, { logLevel: 'info', maxOutput: 8 * MiB });
    img = await buildAndPush(dir, reg, fourLayers(), 'berth/once:v1');
    blobs = [img.config.digest, ...img.layers.map((l) => l.digest)];
  });
  after(async () => {
    await reg?.stop();
    dir?.remove();
  });

  it('berthd: every blob is fetched from the registry once, all four images complete', async () => {
    const d = await Berthd.start({ args: ['--log-level', 'debug'] });
    try {
      const { gets, seconds } = await pullEverywhere(d.socket, reg, img.pushed.ref);
      const waits = d.output.split('\n').filter((l) => l.includes('waiting for the ingest'));
      console.log(
        `berthd: 4 pulls in ${seconds.toFixed(2)} s; GETs per blob ${blobs.map((b) => gets.get(b) ?? 0).join(', ')}; ${waits.length} writers waited for another namespace's ingest`,
      );
      for (const b of blobs) assert.equal(gets.get(b), 1, `${b} fetched once`);
      assert.deepEqual([...gets.keys()].sort(), [...blobs].sort(), 'no other blob fetched');
      for (const ns of NAMESPACES) await assertComplete(d.socket, ns, img.pushed.ref);
    } finally {
      await d.cleanup();
    }
  });

  it('berthd: two pulls into one namespace beside two into another also fetch each blob once', async () => {
    // The two of one namespace write the same refs: the second meets the ref
    // lock (UNAVAILABLE after a moment, which ctr retries), not the digest wait.
    const d = await Berthd.start();
    try {
      const twice = ['same-1', 'same-1', 'same-2', 'same-2'];
      const { gets } = await pullEverywhere(d.socket, reg, img.pushed.ref, twice);
      for (const b of blobs) assert.equal(gets.get(b), 1, `${b} fetched once`);
      for (const ns of ['same-1', 'same-2']) await assertComplete(d.socket, ns, img.pushed.ref);
    } finally {
      await d.cleanup();
    }
  });

  it('berthd: a pull waiting for a killed client’s ingest goes on at once and fetches the blob', async () => {
    const d = await Berthd.start();
    const layer = img.layers[0]!;
    const bytes = readFileSync(join(img.layout, 'blobs', ...layer.digest.split(':')));
    // ctr 1.6 `content ingest` opens its writer (STAT with ref, size and
    // digest), then copies stdin into it: kept half-fed, it holds the ingest.
    const ingest = ctrSpawn(
      d.socket,
      [
        'content',
        'ingest',
        '--expected-size',
        String(layer.size),
        '--expected-digest',
        layer.digest,
        'held-by-a-client',
      ],
      { namespace: 'die-1', stdin: 'pipe' },
    );
    try {
      ingest.proc.stdin?.write(bytes.subarray(0, bytes.length >> 1));
      const active = async () =>
        table(await ctrOkAsync(d.socket, ['content', 'active'], { namespace: 'die-1' })).slice(1);
      for (let i = 0; i < 200 && (await active()).length === 0; i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal((await active())[0]?.[0], 'held-by-a-client', 'the ingest is open');

      const mark = reg.output.length;
      const pull = ctrSpawn(d.socket, ['images', 'pull', '--plain-http', img.pushed.ref], {
        namespace: 'die-2',
      });
      try {
        await new Promise((r) => setTimeout(r, 2000));
        assert.ok(pull.running, `the pull waits for the held layer:\n${pull.stdout}${pull.stderr}`);
        assert.equal(blobGets(reg.output.slice(mark)).get(layer.digest), undefined);
        const killed = performance.now();
        ingest.kill('SIGKILL');
        const late = setTimeout(() => pull.kill('SIGKILL'), 30_000);
        const code = await pull.exited.finally(() => clearTimeout(late));
        const after = (performance.now() - killed) / 1000;
        console.log(`the waiting pull ended ${after.toFixed(2)} s after its holder was killed`);
        assert.equal(code, 0, `the pull completes:\n${pull.stdout}${pull.stderr}`);
        await new Promise((r) => setTimeout(r, 300));
        assert.equal(blobGets(reg.output.slice(mark)).get(layer.digest), 1);
        await assertComplete(d.socket, 'die-2', img.pushed.ref);
      } finally {
        pull.kill('SIGKILL');
      }
    } finally {
      ingest.kill('SIGKILL');
      await d.cleanup();
    }
  });

  it('containerd 1.6, for comparison (diagnostic: it fetches each blob once per pull)', async () => {
    const cdir = tempDir();
    const c = await Containerd.start(cdir);
    try {
      const { gets, seconds } = await pullEverywhere(c.socket, reg, img.pushed.ref);
      console.log(
        `containerd: 4 pulls in ${seconds.toFixed(2)} s; GETs per blob ${blobs.map((b) => gets.get(b) ?? 0).join(', ')}`,
      );
      for (const ns of NAMESPACES) await assertComplete(c.socket, ns, img.pushed.ref);
    } finally {
      await c.stop();
      cdir.remove();
    }
  });
});
