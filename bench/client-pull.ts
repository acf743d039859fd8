/**
 * Pull with unpack through berth's TypeScript client, against containerd's
 * `ctr images pull` (Debian's 1.6, client-side too) on containerd, in the
 * same run, from a docker-registry on 127.0.0.1 that the bench starts:
 *
 * - `ctr pull → containerd`: the reference;
 * - `client → berthd`: `client.pull(ref, { unpack: true })` (src/images over
 *   the gRPC proxies, the registry fetched in this process);
 * - `client remote → berthd`: `{ remote: true }`, berthd's Transfer service;
 * - `client → containerd`: the client's own cost against containerd's stores;
 * - the same four times at once, into four namespaces (`x4`).
 *
 *   node --import tsx bench/client-pull.ts [--rounds 3] [--image layers|busybox] [--json]
 *
 * Root (overlayfs). Every pull goes into a fresh namespace; the images are
 * removed with a synchronous collection afterwards, so each pull fetches
 * and unpacks everything. `sync` runs before each timed pull. Figures are
 * medians over the rounds, as ratios to containerd's.
 */
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { Client } from '../src/client/index.js';
import { Berthd } from '../test/helpers/berthd.js';
import { Containerd } from '../test/helpers/containerd.js';
import { buildAndPush, busyboxImage } from '../test/helpers/images.js';
import { Registry } from '../test/helpers/registry.js';
import { tempDir } from '../test/helpers/tmp.js';
import { layersImage } from './layers-image.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    image: { type: 'string', default: 'layers' },
    json: { type: 'boolean', default: false },
  },
});
const ROUNDS = Number(values.rounds);

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    delete env.CONTAINERD_NAMESPACE;
    delete env.CONTAINERD_ADDRESS;
    const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], env });
    let err = '';
    p.stderr.on('data', (b: Buffer) => {
      err += b.toString();
    });
    p.on('error', reject);
    p.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')}: ${code}\n${err}`)),
    );
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

let seq = 0;
const ns = (what: string) => `bench-${what}-${process.pid}-${++seq}`;

async function timed(fn: () => Promise<unknown>): Promise<number> {
  await run('sync', []);
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** Removes the namespaces' images and collects, so the next pull starts empty. */
async function clear(client: Client, namespaces: string[]): Promise<void> {
  for (const n of namespaces) {
    const c = client.withNamespace(n);
    for (const image of await c.listImages()) {
      await c.imageService().delete(c.context(), image.name, { sync: true });
    }
  }
}

async function main(): Promise<void> {
  const work = tempDir();
  const registry = await Registry.start(work);
  const berthdDir = tempDir();
  const containerdDir = tempDir();
  let berthd: Berthd | undefined;
  let containerd: Containerd | undefined;
  try {
    const spec = values.image === 'busybox' ? busyboxImage() : layersImage();
    const built = await buildAndPush(work, registry, spec, 'bench/client-pull:v1');
    const ref = built.pushed.ref;
    berthd = await Berthd.start({ dir: berthdDir });
    containerd = await Containerd.start(containerdDir);
    const onBerthd = new Client(berthd.socket);
    const onContainerd = new Client(containerd.socket);
    const socket = containerd.socket;

    const cases: Record<string, (n: string) => Promise<unknown>> = {
      'ctr pull → containerd': (n) =>
        run('ctr', ['--address', socket, '--namespace', n, 'images', 'pull', '--plain-http', ref]),
      'client → berthd': (n) => onBerthd.withNamespace(n).pull(ref, { unpack: true }),
      'client remote → berthd': (n) =>
        onBerthd.withNamespace(n).pull(ref, { unpack: true, remote: true }),
      'client → containerd': (n) => onContainerd.withNamespace(n).pull(ref, { unpack: true }),
    };
    const clientOf = (name: string) => (name.includes('berthd') ? onBerthd : onContainerd);
    const results: Record<string, number[]> = {};
    for (let round = 0; round < ROUNDS; round++) {
      const names = Object.keys(cases);
      if (round % 2 === 1) names.reverse();
      for (const name of names) {
        const pullOne = cases[name];
        if (pullOne === undefined) continue;
        const one = ns('one');
        const single = await timed(() => pullOne(one));
        results[name] = [...(results[name] ?? []), single];
        await clear(clientOf(name), [one]);
        const four = [ns('x4'), ns('x4'), ns('x4'), ns('x4')];
        const parallel = await timed(() => Promise.all(four.map((n) => pullOne(n))));
        results[`${name} x4`] = [...(results[`${name} x4`] ?? []), parallel];
        await clear(clientOf(name), four);
      }
    }
    const base = median(results['ctr pull → containerd'] ?? []);
    const base4 = median(results['ctr pull → containerd x4'] ?? []);
    const rows = Object.entries(results).map(([name, ms]) => {
      const ref = name.endsWith('x4') ? base4 : base;
      return {
        name,
        ms: Math.round(median(ms)),
        ratio: Number((median(ms) / ref).toFixed(2)),
        all: ms.map(Math.round),
      };
    });
    if (values.json) {
      console.log(
        JSON.stringify({ image: values.image, layers: built.layers.length, rows }, null, 2),
      );
    } else {
      console.log(
        `image ${values.image}: ${built.layers.length} layers, ${ROUNDS} rounds (median ms, ratio to ctr on containerd)`,
      );
      for (const r of rows)
        console.log(
          `${r.name.padEnd(32)} ${String(r.ms).padStart(7)} ms  ${r.ratio.toFixed(2)}x  [${r.all.join(' ')}]`,
        );
    }
    onBerthd.close();
    onContainerd.close();
  } finally {
    await berthd?.kill9();
    await containerd?.kill9();
    await registry.stop();
    berthdDir.remove();
    containerdDir.remove();
    work.remove();
  }
}

await main();
