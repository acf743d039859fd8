/**
 * Pulls of three images that share a base layer, berthd side by side with
 * Debian's containerd 1.6 in the same run, from a docker-registry on
 * 127.0.0.1 whose info-level log the bench reads to count each blob's GETs:
 *
 *   node --import tsx bench/pull-shared-base.ts [--rounds 5] [--modes concurrent,sequential]
 *                                              [--fs ext4|host] [--json]
 *
 * The images: the base is layer 1 of the 5-layer image (layers-image.ts:
 * 4,000 small files and 2 × 8 MiB, about 32 MiB of tar), the same bytes in
 * all three; on it each image has a small layer of its own (20 files). All
 * three pulls go into one namespace, as kubelet's pulls into `k8s.io`.
 *
 * Per round, daemon (their order alternates across rounds) and mode:
 * 1. `sync`, then the three pulls, all at once (`concurrent`) or one after
 *    another (`sequential`), timed whole (wall seconds until the last ends),
 *    with the daemon's CPU (user + system) meanwhile;
 * 2. the registry's GETs of the base layer during the step; for berthd, the
 *    Applies of the base layer (its `unpack: layer applied` debug lines, and
 *    those of an Apply whose commit lost to another unpack's: berthd runs at
 *    --log-level debug here);
 * 3. `ctr images check` says all three complete, 4 snapshots (base + three
 *    tops); `images rm --sync` leaves no image, snapshot or blob; the
 *    namespace is removed; 6 s settle (scratch-fs.ts).
 *
 * Pullers: into berthd, containerd 1.7's `ctr images pull --local=false
 * --platform linux/amd64` (daemon-side: the Transfer service fetches and
 * unpacks, src/images); into containerd 1.6 (no Transfer service), Debian's
 * `ctr` 1.6 `images pull --plain-http` (client-side: three ctr processes,
 * which share no unpack lock). Both daemons' roots on a fresh journaled ext4
 * (`--fs host`: the temp dir's filesystem). Figures are medians over the
 * rounds; ratio = berthd / containerd. Needs root and `npm run build`.
 */
import { statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Berthd } from '../test/helpers/berthd.js';
import { Containerd, CTR17, containerd17Missing } from '../test/helpers/containerd.js';
import { buildAndPush, type Entry, type LayerSpec } from '../test/helpers/images.js';
import { Registry } from '../test/helpers/registry.js';
import { blobGets } from '../test/helpers/registry-log.js';
import { tempDir } from '../test/helpers/tmp.js';
import { ctr, type Daemon, rows, run } from './ctr.js';
import { layersImage } from './layers-image.js';
import { cpuS } from './proc.js';
import { scratchExt4, settle } from './scratch-fs.js';

const MiB = 1 << 20;
const PLATFORM = 'linux/amd64';
const MODES = ['concurrent', 'sequential'] as const;
type Mode = (typeof MODES)[number];

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    modes: { type: 'string', default: MODES.join(',') },
    fs: { type: 'string', default: 'ext4' },
    json: { type: 'boolean', default: false },
  },
});
const ROUNDS = Number(values.rounds);
if (!Number.isInteger(ROUNDS) || ROUNDS < 1) throw new Error('--rounds must be a positive integer');
const modes = values.modes
  .split(',')
  .filter((m) => m !== '')
  .map((m) => {
    if (!(MODES as readonly string[]).includes(m))
      throw new Error(`--modes: unknown mode ${m} (${MODES})`);
    return m as Mode;
  });

// ---------------------------------------------------------------------------
// Processes

/** One pull of `ref` into `ns`: Transfer into berthd, ctr 1.6 client-side into containerd 1.6. */
function pull(d: Daemon, ns: string, ref: string): Promise<string> {
  if (d.name === 'containerd') return ctr(d, ns, ['images', 'pull', '--plain-http', ref]);
  return run(CTR17, [
    '--address',
    d.socket,
    '--namespace',
    ns,
    'images',
    'pull',
    '--local=false',
    '--platform',
    PLATFORM,
    ref,
  ]);
}

/** berthd's debug lines for an Apply whose snapshot was committed, or discarded as another's won. */
const APPLIED = new Set([
  'unpack: layer applied',
  'unpack: layer applied, committed by another meanwhile',
]);

/** How many times berthd's log says it applied `layer` (debug level). */
function applies(log: string, layer: string): number {
  let n = 0;
  for (const line of log.split('\n')) {
    if (!line.startsWith('{') || !line.includes('unpack: layer applied')) continue;
    const rec = JSON.parse(line) as { msg?: string; layer?: string };
    if (rec.msg !== undefined && APPLIED.has(rec.msg) && rec.layer === layer) n++;
  }
  return n;
}

// ---------------------------------------------------------------------------
// One step

interface Step {
  wallS: number;
  cpuS: number;
  /** GETs of the base layer. */
  baseGets: number;
  /** berthd: Applies of the base layer. */
  baseApplies?: number;
}

async function step(
  d: Daemon,
  berthd: Berthd,
  reg: Registry,
  refs: string[],
  base: string,
  mode: Mode,
  ns: string,
): Promise<Step> {
  await run('sync', []);
  const regMark = reg.output.length;
  const logMark = berthd.output.length;
  const cpu0 = cpuS(d.pid);
  const t0 = process.hrtime.bigint();
  if (mode === 'concurrent') await Promise.all(refs.map((ref) => pull(d, ns, ref)));
  else for (const ref of refs) await pull(d, ns, ref);
  const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = cpuS(d.pid) - cpu0;
  // The registry logs a request once answered; its stderr may lag a little.
  await new Promise((r) => setTimeout(r, 300));
  if (reg.output.length >= reg.maxOutput) throw new Error('the registry log was cut');
  const out: Step = {
    wallS,
    cpuS: cpu,
    baseGets: blobGets(reg.output.slice(regMark)).get(base) ?? 0,
  };
  if (d.name === 'berthd') out.baseApplies = applies(berthd.output.slice(logMark), base);
  return out;
}

/** All three images complete in `ns` on 4 snapshots; then removed, nothing left, the namespace gone. */
async function checkAndRemove(d: Daemon, ns: string, refs: string[]): Promise<void> {
  const checked = rows(await ctr(d, ns, ['images', 'check']));
  for (const ref of refs) {
    const row = checked.find((r) => r.startsWith(`${ref} `));
    const m = row && /complete \((\d+)\/(\d+)\)/.exec(row);
    if (!m || m[1] !== m[2]) throw new Error(`${d.name} ${ns}: ${ref} is not complete: ${row}`);
  }
  const snaps = rows(await ctr(d, ns, ['snapshots', '--snapshotter', 'overlayfs', 'ls']));
  if (snaps.length !== 4) throw new Error(`${d.name} ${ns}: ${snaps.length} snapshots, 4 expected`);
  await ctr(d, ns, ['images', 'rm', '--sync', ...refs]);
  const left = [
    ...rows(await ctr(d, ns, ['images', 'ls'])),
    ...rows(await ctr(d, ns, ['snapshots', '--snapshotter', 'overlayfs', 'ls'])),
    ...rows(await ctr(d, ns, ['content', 'ls'])),
  ];
  if (left.length > 0)
    throw new Error(`${d.name} ${ns}: left after images rm --sync:\n${left.join('\n')}`);
  await ctr(d, 'default', ['namespaces', 'rm', ns]);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const range = (xs: number[]) => {
  const lo = Math.min(...xs);
  const hi = Math.max(...xs);
  return lo === hi ? String(lo) : `${lo}-${hi}`;
};

/** A layer of 20 small text files naming `who`. */
function topLayer(who: string): LayerSpec {
  const entries: Entry[] = Array.from({ length: 20 }, (_, i) => ({
    type: 'file',
    path: `app/${who}/f${i}.txt`,
    content: `${who} ${i}\n`.repeat(64),
  }));
  return { entries, createdBy: `the ${who} layer` };
}

async function main(): Promise<void> {
  const missing = containerd17Missing();
  if (missing) throw new Error(`containerd 1.7's ctr is needed: ${missing}`);
  const log = (s: string) => {
    if (!values.json) console.error(s);
  };
  const work = tempDir('berth-bench-shared-');
  const fs = values.fs === 'host' ? undefined : scratchExt4(work.path);
  const tmp = process.env.TMPDIR;
  if (fs) process.env.TMPDIR = fs.path; // the daemons' roots go there
  const cdir = tempDir('berth-bench-shared-ctd-');
  let registry: Registry | undefined;
  let berthd: Berthd | undefined;
  let containerd: Containerd | undefined;
  try {
    registry = await Registry.start(work, { logLevel: 'info', maxOutput: 64 * MiB });
    const baseSpec = layersImage().layers[0]!;
    const first = await buildAndPush(
      work,
      registry,
      { layers: [baseSpec, topLayer('a')] },
      'bench/shared-a:1',
    );
    const base = first.layers[0]!;
    const refs = [first.pushed.ref];
    for (const who of ['b', 'c']) {
      const img = await buildAndPush(
        work,
        registry,
        { layers: [{ tar: base.tarPath }, topLayer(who)] },
        `bench/shared-${who}:1`,
      );
      if (img.layers[0]!.digest !== base.digest)
        throw new Error(`image ${who}'s base ${img.layers[0]!.digest} is not ${base.digest}`);
      refs.push(img.pushed.ref);
    }
    log(
      `base layer ${(statSync(base.tarPath).size / MiB).toFixed(1)} MiB tar, ${(base.size / MiB).toFixed(1)} MiB gzip; images ${refs.join(' ')}`,
    );
    berthd = await Berthd.start({ args: ['--log-level', 'debug'] });
    containerd = await Containerd.start(cdir);
    const daemons: Daemon[] = [
      { name: 'berthd', socket: berthd.socket, pid: berthd.pid },
      { name: 'containerd', socket: containerd.socket, pid: containerd.pid },
    ];
    await settle(); // the build removed its trees
    const samples: Record<string, Step[]> = {};
    for (let r = 0; r < ROUNDS; r++) {
      const order = r % 2 === 0 ? daemons : [...daemons].reverse();
      for (const mode of modes) {
        for (const d of order) {
          const ns = `bench-shared-${mode}-${r}`;
          const s = await step(d, berthd, registry, refs, base.digest, mode, ns);
          await checkAndRemove(d, ns, refs);
          await settle();
          const key = `${mode} ${d.name}`;
          samples[key] = [...(samples[key] ?? []), s];
          log(
            `round ${r} ${mode.padEnd(10)} ${d.name.padEnd(10)} ${s.wallS.toFixed(3)} s  CPU ${s.cpuS.toFixed(2)} s  base GETs ${s.baseGets}${s.baseApplies === undefined ? '' : `  base applies ${s.baseApplies}`}`,
          );
        }
      }
    }
    const summary = modes.map((mode) => {
      const of = (d: Daemon['name']) => {
        const xs = samples[`${mode} ${d}`]!;
        return {
          wallS: median(xs.map((x) => x.wallS)),
          minWallS: Math.min(...xs.map((x) => x.wallS)),
          maxWallS: Math.max(...xs.map((x) => x.wallS)),
          cpuS: median(xs.map((x) => x.cpuS)),
          baseGets: range(xs.map((x) => x.baseGets)),
          ...(d === 'berthd' && { baseApplies: range(xs.map((x) => x.baseApplies ?? 0)) }),
        };
      };
      const b = of('berthd');
      const c = of('containerd');
      return {
        mode,
        berthd: b,
        containerd: c,
        ratio: { wallS: b.wallS / c.wallS, cpuS: b.cpuS / c.cpuS },
      };
    });
    if (values.json) {
      process.stdout.write(
        `${JSON.stringify({ rounds: ROUNDS, base: base.digest, summary, samples }, null, 2)}\n`,
      );
      return;
    }
    console.log(
      `3 pulls of images sharing a ${(statSync(base.tarPath).size / MiB).toFixed(1)} MiB base layer into one namespace, median of ${ROUNDS} alternating rounds`,
    );
    console.log('mode        daemon       wall s  (min-max)       CPU s  base GETs  base applies');
    for (const s of summary) {
      for (const [who, v] of [
        ['berthd', s.berthd],
        ['containerd', s.containerd],
      ] as const) {
        console.log(
          `${s.mode.padEnd(11)} ${who.padEnd(10)} ${v.wallS.toFixed(3).padStart(7)}  (${v.minWallS.toFixed(2)}-${v.maxWallS.toFixed(2)})  ${v.cpuS.toFixed(2).padStart(6)}  ${v.baseGets.padStart(9)}  ${'baseApplies' in v ? String(v.baseApplies).padStart(12) : ''}`,
        );
      }
      console.log(
        `${s.mode.padEnd(11)} ${'ratio'.padEnd(10)} ${`${s.ratio.wallS.toFixed(2)}x`.padStart(7)}                  ${`${s.ratio.cpuS.toFixed(2)}x`.padStart(6)}`,
      );
    }
    console.log(
      'berthd: ctr 1.7 images pull --local=false (Transfer); containerd 1.6: ctr 1.6 images pull --plain-http (client-side)',
    );
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
