/**
 * Concurrent pulls of one image into several namespaces, berthd side by side
 * with Debian's containerd in the same run, from a real docker-registry on
 * 127.0.0.1 whose info-level log the bench reads to count each blob's GETs.
 *
 *   node --import tsx bench/pull-namespaces.ts [--pullers ctr] [--namespaces 4]
 *                                            [--rounds 3] [--json]
 *
 * The image is the generated 5-layer one (layers-image.ts: about 90 MiB of
 * tar in about 10,000 files, 5 gzip layers). For each round, puller and
 * daemon (the daemons' order alternates across rounds):
 * 1. `sync`, then --namespaces pulls of the image at once, each into a
 *    namespace of its own, timed whole (fetch + unpack: wall seconds until
 *    the last one ends), with the daemon's CPU (user + system) meanwhile;
 * 2. the registry's log for that step: GETs of each blob (config and layers);
 * 3. `ctr -n <ns> images check` says every image complete;
 * 4. `ctr -n <ns> images rm --sync` in each namespace, then no image,
 *    snapshot or blob is left;
 * 5. for pullers that can fetch without unpacking (`ctr content fetch`): the
 *    fetch alone, timed and its GETs counted the same way, then the pulls
 *    again, which find every blob present and only unpack (the unpack
 *    figure), then removed and checked again; the namespaces are removed.
 *
 * Pullers (how each pull is made; a pull is one image into one namespace):
 * - `ctr`: Debian's `ctr` 1.6 `images pull --plain-http`, client-side: ctr
 *   talks to the registry and writes through the daemon's Content service,
 *   then unpacks through its Diff and Snapshots services.
 * - `transfer`: into berthd, containerd 1.7's `ctr images pull --local=false
 *   --platform linux/amd64`: berthd's Transfer service fetches and unpacks
 *   itself; into containerd 1.6 (which has no Transfer service), `ctr` 1.6 as
 *   above. No fetch-alone step.
 *
 * Both daemons' roots are on a fresh journaled ext4 (scratch-fs.ts; `--fs
 * host` for the temp dir's own filesystem), and each round starts 6 s after
 * the previous removal, synced (see there).
 *
 * Figures are medians over the rounds; ratio = berthd / containerd.
 */
import { statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Berthd } from '../test/helpers/berthd.js';
import { Containerd, CTR17 } from '../test/helpers/containerd.js';
import { buildAndPush } from '../test/helpers/images.js';
import { Registry } from '../test/helpers/registry.js';
import { blobGets } from '../test/helpers/registry-log.js';
import { tempDir } from '../test/helpers/tmp.js';
import { ctr, type Daemon, rows, run } from './ctr.js';
import { layersImage } from './layers-image.js';
import { cpuS } from './proc.js';
import { scratchExt4, settle } from './scratch-fs.js';

const MiB = 1 << 20;

/** One way of pulling `ref` into namespace `ns` of a daemon. */
interface Puller {
  name: string;
  describe: string;
  pull(d: Daemon, ns: string, ref: string): Promise<unknown>;
  /** Fetches every blob of the image into `ns` without unpacking, when the puller can. */
  fetch?(d: Daemon, ns: string, ref: string): Promise<unknown>;
}

/** Four pulls at once on a loaded machine may take long: 15 minutes each. */
const PULL_TIMEOUT_MS = 900_000;

const PULLERS: Record<string, Puller> = {
  ctr: {
    name: 'ctr',
    describe: 'ctr 1.6 images pull --plain-http (client-side)',
    pull: (d, ns, ref) => ctr(d, ns, ['images', 'pull', '--plain-http', ref], PULL_TIMEOUT_MS),
    fetch: (d, ns, ref) => ctr(d, ns, ['content', 'fetch', '--plain-http', ref], PULL_TIMEOUT_MS),
  },
  transfer: {
    name: 'transfer',
    describe:
      'berthd: ctr 1.7 images pull --local=false --platform linux/amd64 (daemon-side, Transfer); containerd 1.6 (no Transfer service): ctr 1.6 images pull --plain-http',
    pull: (d, ns, ref) =>
      d.name === 'berthd'
        ? run(
            CTR17,
            [
              '--address',
              d.socket,
              '--namespace',
              ns,
              'images',
              'pull',
              '--local=false',
              '--platform',
              'linux/amd64',
              ref,
            ],
            PULL_TIMEOUT_MS,
          )
        : ctr(d, ns, ['images', 'pull', '--plain-http', ref], PULL_TIMEOUT_MS),
  },
};

const { values } = parseArgs({
  options: {
    pullers: { type: 'string', default: 'ctr' },
    namespaces: { type: 'string', default: '4' },
    fs: { type: 'string', default: 'ext4' },
    rounds: { type: 'string', default: '3' },
    json: { type: 'boolean', default: false },
  },
});
const ROUNDS = Number(values.rounds);
const NAMESPACES = Number(values.namespaces);
for (const [k, v] of Object.entries({ rounds: ROUNDS, namespaces: NAMESPACES })) {
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${k} must be a positive integer`);
}
const pullers = values.pullers
  .split(',')
  .filter((p) => p !== '')
  .map((p) => {
    const found = PULLERS[p];
    if (!found) throw new Error(`--pullers: unknown puller ${p} (${Object.keys(PULLERS)})`);
    return found;
  });

// ---------------------------------------------------------------------------
// Processes

// ---------------------------------------------------------------------------
// One round

interface Step {
  wallS: number;
  cpuS: number;
  /** GETs of each blob of the image (config, then layers) during the step. */
  gets: number[];
}

interface Round {
  pull: Step;
  /** When the puller can fetch alone: the fetch, then the unpack of what it fetched. */
  fetch?: Step;
  unpack?: Step;
}

/** Runs `fn` in every namespace at once after a `sync`: wall time, daemon CPU, blob GETs. */
async function concurrently(
  d: Daemon,
  reg: Registry,
  blobs: string[],
  namespaces: string[],
  fn: (ns: string) => Promise<unknown>,
): Promise<Step> {
  await run('sync', []);
  const mark = reg.output.length;
  const cpu0 = cpuS(d.pid);
  const t0 = process.hrtime.bigint();
  await Promise.all(namespaces.map(fn));
  const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = cpuS(d.pid) - cpu0;
  // The registry logs a request once answered; its stderr may lag a little.
  await new Promise((r) => setTimeout(r, 300));
  if (reg.output.length >= reg.maxOutput) throw new Error('the registry log was cut');
  const counts = blobGets(reg.output.slice(mark));
  return { wallS, cpuS: cpu, gets: blobs.map((b) => counts.get(b) ?? 0) };
}

/** Every namespace's image is complete; then removed, with nothing left. */
async function checkAndRemove(d: Daemon, ref: string, namespaces: string[]): Promise<void> {
  for (const ns of namespaces) {
    const row = rows(await ctr(d, ns, ['images', 'check'])).find((r) => r.startsWith(`${ref} `));
    const m = row && /complete \((\d+)\/(\d+)\)/.exec(row);
    if (!m || m[1] !== m[2]) throw new Error(`${d.name} ${ns}: ${ref} is not complete: ${row}`);
  }
  for (const ns of namespaces) await ctr(d, ns, ['images', 'rm', '--sync', ref]);
  for (const ns of namespaces) {
    const left = [
      ...rows(await ctr(d, ns, ['images', 'ls'])),
      ...rows(await ctr(d, ns, ['snapshots', '--snapshotter', 'overlayfs', 'ls'])),
      ...rows(await ctr(d, ns, ['content', 'ls'])),
    ];
    if (left.length > 0) {
      throw new Error(`${d.name} ${ns}: left after images rm --sync:\n${left.join('\n')}`);
    }
  }
}

async function round(
  d: Daemon,
  p: Puller,
  reg: Registry,
  ref: string,
  blobs: string[],
  tag: string,
): Promise<Round> {
  const namespaces = Array.from({ length: NAMESPACES }, (_, i) => `bench-${tag}-${i + 1}`);
  const pull = await concurrently(d, reg, blobs, namespaces, (ns) => p.pull(d, ns, ref));
  await checkAndRemove(d, ref, namespaces);
  await settle();
  const out: Round = { pull };
  const { fetch } = p;
  if (fetch !== undefined) {
    out.fetch = await concurrently(d, reg, blobs, namespaces, (ns) => fetch(d, ns, ref));
    out.unpack = await concurrently(d, reg, blobs, namespaces, (ns) => p.pull(d, ns, ref));
    if (out.unpack.gets.some((n) => n > 0)) {
      throw new Error(`${d.name}: the unpack step fetched blobs again: ${out.unpack.gets}`);
    }
    await checkAndRemove(d, ref, namespaces);
    await settle();
  }
  for (const ns of namespaces) await ctr(d, 'default', ['namespaces', 'rm', ns]);
  return out;
}

interface StepSummary {
  wallS: number;
  cpuS: number;
  /** Per blob, the fewest and the most GETs of any round. */
  minGets: number[];
  maxGets: number[];
}

type Summary = Partial<Record<keyof Round, StepSummary>>;

function summary(rs: Round[], nblobs: number): Summary {
  const out: Summary = {};
  for (const k of ['pull', 'fetch', 'unpack'] as const) {
    const steps = rs.map((r) => r[k]).filter((x): x is Step => x !== undefined);
    if (steps.length === 0) continue;
    const per = (i: number) => steps.map((x) => x.gets[i]!);
    out[k] = {
      wallS: median(steps.map((x) => x.wallS)),
      cpuS: median(steps.map((x) => x.cpuS)),
      minGets: Array.from({ length: nblobs }, (_, i) => Math.min(...per(i))),
      maxGets: Array.from({ length: nblobs }, (_, i) => Math.max(...per(i))),
    };
  }
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return 0;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

async function main(): Promise<void> {
  const work = tempDir('berth-bench-pullns-');
  const fs = values.fs === 'host' ? undefined : scratchExt4(work.path);
  const tmp = process.env.TMPDIR;
  if (fs) process.env.TMPDIR = fs.path; // the daemons' roots go there
  const cdir = tempDir('berth-bench-containerd-');
  let registry: Registry | undefined;
  let berthd: Berthd | undefined;
  let containerd: Containerd | undefined;
  const log = (s: string) => {
    if (!values.json) console.error(s);
  };
  try {
    registry = await Registry.start(work, { logLevel: 'info', maxOutput: 64 * MiB });
    const t0 = performance.now();
    const img = await buildAndPush(work, registry, layersImage(), 'bench/layers:1');
    const blobs = [img.config.digest, ...img.layers.map((l) => l.digest)];
    const tarBytes = img.layers.reduce((a, l) => a + statSync(l.tarPath).size, 0);
    const wireBytes = img.layers.reduce((a, l) => a + l.size, 0);
    log(
      `image built and pushed in ${((performance.now() - t0) / 1000).toFixed(0)} s: ${(tarBytes / MiB).toFixed(1)} MiB tar, ${(wireBytes / MiB).toFixed(1)} MiB gzip in ${img.layers.length} layers`,
    );
    berthd = await Berthd.start();
    containerd = await Containerd.start(cdir);
    const daemons: Daemon[] = [
      { name: 'berthd', socket: berthd.socket, pid: berthd.pid },
      { name: 'containerd', socket: containerd.socket, pid: containerd.pid },
    ];

    await settle(); // the image's build removed its 10,000-file tree
    const results = [];
    for (const p of pullers) {
      const per: Record<Daemon['name'], Round[]> = { berthd: [], containerd: [] };
      for (let r = 0; r < ROUNDS; r++) {
        const order = r % 2 === 0 ? daemons : [...daemons].reverse();
        for (const d of order) {
          const f = await round(d, p, registry, img.pushed.ref, blobs, `${p.name}-${r}`);
          per[d.name].push(f);
          const step = (name: string, x: Step | undefined) =>
            x
              ? `; ${name} ${x.wallS.toFixed(2)} s, CPU ${x.cpuS.toFixed(1)} s, GETs ${x.gets.join(' ')}`
              : '';
          log(
            `${p.name} round ${r} ${d.name}${step('pull', f.pull)}${step('fetch', f.fetch)}${step('unpack', f.unpack)}`,
          );
        }
      }
      const b = summary(per.berthd, blobs.length);
      const c = summary(per.containerd, blobs.length);
      const ratio = (k: keyof Summary) => {
        const x = b[k];
        const y = c[k];
        return x && y ? { wallS: x.wallS / y.wallS, cpuS: x.cpuS / y.cpuS } : undefined;
      };
      results.push({
        puller: p.name,
        describe: p.describe,
        berthd: b,
        containerd: c,
        ratio: { pull: ratio('pull'), fetch: ratio('fetch'), unpack: ratio('unpack') },
        rounds: per,
      });
    }

    if (values.json) {
      process.stdout.write(
        `${JSON.stringify({ namespaces: NAMESPACES, rounds: ROUNDS, tarBytes, wireBytes, blobs, results }, null, 2)}\n`,
      );
      return;
    }
    console.log(
      `${NAMESPACES} concurrent pulls of the 5-layer image (${(tarBytes / MiB).toFixed(1)} MiB tar, ${(wireBytes / MiB).toFixed(1)} MiB gzip) into ${NAMESPACES} namespaces, median of ${ROUNDS} alternating rounds`,
    );
    console.log(
      'wall s until the last one ends; daemon CPU s (user+sys); GETs per blob (config, layers), fewest-most over the rounds;\npull = fetch + unpack; fetch = ctr content fetch; unpack = the pulls again with every blob present',
    );
    const gets = (x: StepSummary) =>
      x.minGets.map((l, i) => (l === x.maxGets[i] ? String(l) : `${l}-${x.maxGets[i]}`)).join(' ');
    const x2 = (v: number | undefined) => (v === undefined ? '' : `${v.toFixed(2)}x`);
    for (const r of results) {
      console.log(`${r.puller}: ${r.describe}`);
      for (const step of ['pull', 'fetch', 'unpack'] as const) {
        const b = r.berthd[step];
        const c = r.containerd[step];
        if (!b || !c) continue;
        for (const [who, v] of [
          ['berthd', b],
          ['containerd', c],
        ] as const) {
          console.log(
            `  ${step.padEnd(6)} ${who.padEnd(10)} ${v.wallS.toFixed(2).padStart(7)} s  CPU ${v.cpuS.toFixed(1).padStart(5)} s  GETs ${gets(v)}`,
          );
        }
        console.log(
          `  ${step.padEnd(6)} ${'ratio'.padEnd(10)} ${x2(r.ratio[step]?.wallS).padStart(7)}    CPU ${x2(r.ratio[step]?.cpuS).padStart(5)}`,
        );
      }
    }
    console.log('ratio = berthd / containerd: below 1 is better');
  } finally {
    await containerd?.stop();
    await berthd?.stop();
    await registry?.stop();
    await berthd?.cleanup();
    cdir.remove();
    if (tmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = tmp;
    fs?.unmount();
    work.remove();
  }
}

await main();
