/**
 * Pull + unpack of the 5-layer image (layers-image.ts) from a docker-registry
 * on 127.0.0.1, the ways a pull can reach each daemon, in the same run:
 *
 *   node --import tsx bench/transfer-pull.ts [--rounds 5] [--ways a,b,c,d]
 *                                           [--cpu-prof <dir>] [--json]
 *
 * Ways (each a whole pull with unpack into overlayfs, into a namespace of its own):
 * - `containerd`: containerd 1.6 with Debian's `ctr images pull --plain-http`
 *   (client-side: ctr fetches and drives Content, Diff and Snapshots): the baseline;
 * - `transfer`: berthd through its Transfer service, driven by containerd
 *   1.7's `ctr images pull --local=false --platform linux/amd64` (daemon-side:
 *   berthd fetches and unpacks itself, src/images);
 * - `ctr16`: berthd with Debian's `ctr` 1.6 client-side, as `containerd`;
 * - `client`: berth's TypeScript client, `client.pull(ref, { unpack: true })`
 *   in this process (client-side over the gRPC proxies), when `src/client`
 *   exports a `Client` with `pull`; skipped with a note otherwise.
 *
 * Each round runs every way once, in an order that rotates from round to
 * round and reverses every other round, so neither daemon nor way always
 * follows the same other one. Before each timed pull: `sync` (the previous
 * step's writeback and the deletions of `rm --sync` are on disk, not in this
 * pull's time), and 6 s after the last removal (see `settle`). After it: `ctr images check` says complete, then `images rm
 * --sync`, and no image, snapshot or blob may be left; the namespace is removed.
 * Figures per pull: wall seconds; the daemon's CPU (utime + stime of all its
 * threads, /proc); its peak VmRSS (VmHWM after a reset through clear_refs,
 * and VmRSS polled every 10 ms). Medians over the rounds; ratios against
 * `containerd`. The load average is printed before and after.
 *
 * --cpu-prof <dir> writes berthd's CPU profiles there (main thread and
 * workers), through a preloaded inspector session (Node refuses --cpu-prof
 * in NODE_OPTIONS). --trace runs berthd at --log-level debug and prints the
 * phase lines of src/images (each blob fetched, each layer's wait for its
 * blob, apply and commit) after each of its pulls. Needs `npm run build` (berthd runs from dist/) and root.
 */
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Berthd } from '../test/helpers/berthd.js';
import { Containerd, CTR17, containerd17Missing } from '../test/helpers/containerd.js';
import { buildAndPush } from '../test/helpers/images.js';
import { Registry } from '../test/helpers/registry.js';
import { tempDir } from '../test/helpers/tmp.js';
import { ctr, type Daemon, rows, run } from './ctr.js';
import { layersImage } from './layers-image.js';
import { cpuS, resetPeak, statusKiB, threadCpuS } from './proc.js';
import { scratchExt4, settle } from './scratch-fs.js';

const MiB = 1 << 20;
const PLATFORM = 'linux/amd64';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    ways: { type: 'string', default: 'containerd,transfer,ctr16,client' },
    'cpu-prof': { type: 'string' },
    /** berthd at --log-level debug; its pull and unpack phase lines printed after each of its pulls. */
    trace: { type: 'boolean', default: false },
    /** `ext4`: both daemons' roots on a fresh journaled ext4 (loop device); `host`: the temp dir's filesystem. */
    fs: { type: 'string', default: 'ext4' },
    /** A config.toml for berthd (e.g. the transfer plugin's max_concurrent_downloads). */
    'berthd-config': { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const ROUNDS = Number(values.rounds);
if (!Number.isInteger(ROUNDS) || ROUNDS < 1) throw new Error('--rounds must be a positive integer');

// ---------------------------------------------------------------------------
// Processes

// ---------------------------------------------------------------------------
// Ways of pulling

interface Way {
  name: string;
  describe: string;
  daemon: Daemon['name'];
  pull(d: Daemon, ns: string, ref: string): Promise<unknown>;
}

/** berth's TypeScript client, when src/client has one that pulls (the client branch adds it). */
interface TsClient {
  pull(ref: string, opts: { unpack: boolean; platform?: string }): Promise<unknown>;
  close(): void;
}
type TsClientCtor = new (address: string, opts: { namespace: string }) => TsClient;

async function tsClient(): Promise<TsClientCtor | undefined> {
  const mod = (await import('../src/client/index.js')) as Record<string, unknown>;
  const ctor = mod.Client;
  if (typeof ctor !== 'function') return undefined;
  const proto = (ctor as { prototype?: Record<string, unknown> }).prototype;
  return typeof proto?.pull === 'function' ? (ctor as TsClientCtor) : undefined;
}

function allWays(client: TsClientCtor | undefined): Way[] {
  const ways: Way[] = [
    {
      name: 'containerd',
      describe: 'containerd 1.6, ctr 1.6 images pull --plain-http (client-side)',
      daemon: 'containerd',
      pull: (d, ns, ref) => ctr(d, ns, ['images', 'pull', '--plain-http', ref]),
    },
    {
      name: 'transfer',
      describe: `berthd Transfer, ctr 1.7 images pull --local=false --platform ${PLATFORM}`,
      daemon: 'berthd',
      pull: (d, ns, ref) =>
        run(CTR17, [
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
        ]),
    },
    {
      name: 'ctr16',
      describe: 'berthd, ctr 1.6 images pull --plain-http (client-side)',
      daemon: 'berthd',
      pull: (d, ns, ref) => ctr(d, ns, ['images', 'pull', '--plain-http', ref]),
    },
  ];
  if (client) {
    ways.push({
      name: 'client',
      describe:
        "berthd, the TS client's client.pull(ref, { unpack: true }) (client-side, in the bench)",
      daemon: 'berthd',
      pull: async (d, ns, ref) => {
        const c = new client(d.socket, { namespace: ns });
        try {
          await c.pull(ref, { unpack: true, platform: PLATFORM });
        } finally {
          c.close();
        }
      },
    });
  }
  return ways;
}

// ---------------------------------------------------------------------------
// Measuring

interface Sample {
  wallS: number;
  cpuS: number;
  peakMiB: number;
  /** The daemon's user and system CPU, in all and by thread (threads that ended during the pull are not counted). */
  threads: Record<string, number>;
}

async function timed(pid: number, fn: () => Promise<unknown>): Promise<Sample> {
  await run('sync', []);
  resetPeak(pid); // refused when not root: the polled VmRSS stands alone
  let polled = statusKiB(pid, 'VmRSS');
  const poll = setInterval(() => {
    polled = Math.max(polled, statusKiB(pid, 'VmRSS'));
  }, 10);
  const cpu0 = cpuS(pid);
  const threads0 = threadCpuS(pid);
  const t0 = process.hrtime.bigint();
  try {
    await fn();
  } finally {
    clearInterval(poll);
  }
  const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
  // Totals of user and system time, and the threads that took at least 0.1 s.
  const threads: Record<string, number> = { user: 0, sys: 0 };
  for (const [name, s] of threadCpuS(pid)) {
    const d = s - (threads0.get(name) ?? 0);
    const kind = name.endsWith('.user') ? 'user' : 'sys';
    threads[kind] = Number((threads[kind]! + d).toFixed(2));
    if (d >= 0.1) threads[name] = Number(d.toFixed(2));
  }
  return {
    threads,
    wallS,
    cpuS: cpuS(pid) - cpu0,
    peakMiB: Math.max(polled, statusKiB(pid, 'VmHWM')) / 1024,
  };
}

/** The image is complete in `ns`; then removed, with nothing left, and the namespace gone. */
async function checkAndRemove(d: Daemon, ns: string, ref: string): Promise<void> {
  const row = rows(await ctr(d, ns, ['images', 'check'])).find((r) => r.startsWith(`${ref} `));
  const m = row && /complete \((\d+)\/(\d+)\)/.exec(row);
  if (!m || m[1] !== m[2]) throw new Error(`${d.name} ${ns}: ${ref} is not complete: ${row}`);
  const snaps = rows(await ctr(d, ns, ['snapshots', '--snapshotter', 'overlayfs', 'ls']));
  if (snaps.length !== 5) throw new Error(`${d.name} ${ns}: ${snaps.length} snapshots, 5 expected`);
  await ctr(d, ns, ['images', 'rm', '--sync', ref]);
  const left = [
    ...rows(await ctr(d, ns, ['images', 'ls'])),
    ...rows(await ctr(d, ns, ['snapshots', '--snapshotter', 'overlayfs', 'ls'])),
    ...rows(await ctr(d, ns, ['content', 'ls'])),
  ];
  if (left.length > 0)
    throw new Error(`${d.name} ${ns}: left after rm --sync:\n${left.join('\n')}`);
  await ctr(d, 'default', ['namespaces', 'rm', ns]);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Way order of round `r`: rotated by r, reversed on odd rounds. */
function order<T>(xs: readonly T[], r: number): T[] {
  const rot = [...xs.slice(r % xs.length), ...xs.slice(0, r % xs.length)];
  return r % 2 === 1 ? rot.reverse() : rot;
}

/** Prints berthd's pull and unpack debug lines, their times relative to `start` (ms). */
function trace(output: string, start: number): void {
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue;
    const { time, msg, level, pid, hostname, ...rest } = JSON.parse(line) as Record<
      string,
      unknown
    >;
    if (typeof msg !== 'string' || !/^(pull|unpack):/.test(msg)) continue;
    console.error(
      `  +${String(Date.parse(String(time)) - start).padStart(5)} ms ${msg} ${JSON.stringify(rest)}`,
    );
  }
}

const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

async function main(): Promise<void> {
  const missing = containerd17Missing();
  if (missing) throw new Error(`containerd 1.7's ctr is needed: ${missing}`);
  const client = await tsClient();
  const wanted = values.ways.split(',').filter((w) => w !== '');
  const ways = allWays(client).filter((w) => wanted.includes(w.name));
  const log = (s: string) => {
    if (!values.json) console.error(s);
  };
  if (wanted.includes('client') && !client) {
    log('client: src/client has no Client with pull yet (the client branch adds it): skipped');
  }
  const work = tempDir('berth-bench-transfer-');
  const fs = values.fs === 'host' ? undefined : scratchExt4(work.path);
  const tmp = process.env.TMPDIR;
  if (fs) process.env.TMPDIR = fs.path; // the daemons' roots (Berthd, Containerd) go there
  const cdir = tempDir('berth-bench-transfer-ctd-');
  let registry: Registry | undefined;
  let berthd: Berthd | undefined;
  let containerd: Containerd | undefined;
  try {
    registry = await Registry.start(work);
    const img = await buildAndPush(work, registry, layersImage(), 'bench/layers:1');
    const tarBytes = img.layers.reduce((a, l) => a + statSync(l.tarPath).size, 0);
    const wireBytes = img.layers.reduce((a, l) => a + l.size, 0);
    log(
      `5-layer image: ${(tarBytes / MiB).toFixed(1)} MiB tar, ${(wireBytes / MiB).toFixed(1)} MiB gzip`,
    );

    const nodeOptions = process.env.NODE_OPTIONS;
    const prof = values['cpu-prof'];
    if (prof !== undefined) {
      const pre = join(work.path, 'cpu-prof.mjs');
      writeFileSync(
        pre,
        `import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import { threadId } from 'node:worker_threads';
const s = new Session();
s.connect();
s.post('Profiler.enable');
s.post('Profiler.setSamplingInterval', { interval: 200 });
s.post('Profiler.start');
const out = (n) => ${JSON.stringify(prof)} + '/berthd-' + process.pid + '-' + threadId + (n === undefined ? '' : '-' + n) + '.cpuprofile';
process.on('exit', () => s.post('Profiler.stop', (err, r) => {
  if (!err) writeFileSync(out(), JSON.stringify(r.profile));
}));
// A worker stopped by terminate() (the idle apply workers) runs no 'exit'
// handler: a worker writes its profile every second instead, one file each.
if (threadId !== 0) {
  let n = 0;
  setInterval(() => s.post('Profiler.stop', (err, r) => {
    if (!err) writeFileSync(out(n++), JSON.stringify(r.profile));
    s.post('Profiler.start');
  }), 1000).unref();
}
`,
      );
      process.env.NODE_OPTIONS = `${nodeOptions ?? ''} --import ${pre}`;
    }
    try {
      berthd = await Berthd.start({
        ...(values.trace && { args: ['--log-level', 'debug'] }),
        ...(values['berthd-config'] !== undefined && {
          configToml: readFileSync(values['berthd-config'], 'utf8'),
        }),
      });
    } finally {
      if (nodeOptions === undefined) delete process.env.NODE_OPTIONS;
      else process.env.NODE_OPTIONS = nodeOptions;
    }
    containerd = await Containerd.start(cdir);
    const daemons: Record<Daemon['name'], Daemon> = {
      berthd: { name: 'berthd', socket: berthd.socket, pid: berthd.pid },
      containerd: { name: 'containerd', socket: containerd.socket, pid: containerd.pid },
    };

    log(`berthd pid ${berthd.pid}, containerd pid ${containerd.pid}`);
    await settle(); // the image's build deleted its 10,000-file tree
    const loadBefore = load();
    log(`load average before: ${loadBefore}`);
    const samples: Record<string, Sample[]> = Object.fromEntries(ways.map((w) => [w.name, []]));
    for (let r = 0; r < ROUNDS; r++) {
      for (const w of order(ways, r)) {
        const d = daemons[w.daemon];
        const ns = `bench-${w.name}-${r}`;
        const mark = berthd.output.length;
        const start = Date.now();
        const s = await timed(d.pid, () => w.pull(d, ns, img.pushed.ref));
        if (values.trace && d.name === 'berthd') trace(berthd.output.slice(mark), start);
        await checkAndRemove(d, ns, img.pushed.ref);
        await settle();
        samples[w.name]!.push(s);
        log(
          `round ${r} ${w.name.padEnd(10)} ${s.wallS.toFixed(2)} s  CPU ${s.cpuS.toFixed(2)} s  peak ${s.peakMiB.toFixed(0)} MiB  (load ${load()})  threads ${JSON.stringify(s.threads)}`,
        );
      }
    }
    const loadAfter = load();

    const base = samples.containerd;
    const summary = ways.map((w) => {
      const xs = samples[w.name]!;
      const m = {
        wallS: median(xs.map((x) => x.wallS)),
        cpuS: median(xs.map((x) => x.cpuS)),
        peakMiB: median(xs.map((x) => x.peakMiB)),
      };
      const ratio = base
        ? {
            wallS: m.wallS / median(base.map((x) => x.wallS)),
            cpuS: m.cpuS / median(base.map((x) => x.cpuS)),
            peakMiB: m.peakMiB / median(base.map((x) => x.peakMiB)),
          }
        : undefined;
      return {
        way: w.name,
        describe: w.describe,
        median: m,
        ratio,
        minWallS: Math.min(...xs.map((x) => x.wallS)),
        maxWallS: Math.max(...xs.map((x) => x.wallS)),
      };
    });
    if (values.json) {
      process.stdout.write(
        `${JSON.stringify({ rounds: ROUNDS, tarBytes, wireBytes, loadBefore, loadAfter, summary, samples }, null, 2)}\n`,
      );
      return;
    }
    console.log(
      `pull + unpack of the 5-layer image (${(tarBytes / MiB).toFixed(1)} MiB tar, ${(wireBytes / MiB).toFixed(1)} MiB gzip), median of ${ROUNDS} rounds; load average ${loadBefore} before, ${loadAfter} after`,
    );
    console.log(
      'way          wall s  (min-max)       daemon CPU s  peak VmRSS MiB   ratio wall / CPU / RSS',
    );
    for (const s of summary) {
      const r = s.ratio
        ? `${s.ratio.wallS.toFixed(2)}x / ${s.ratio.cpuS.toFixed(2)}x / ${s.ratio.peakMiB.toFixed(2)}x`
        : '';
      console.log(
        `${s.way.padEnd(12)} ${s.median.wallS.toFixed(2).padStart(6)}  (${s.minWallS.toFixed(2)}-${s.maxWallS.toFixed(2)})  ${s.median.cpuS.toFixed(2).padStart(12)}  ${s.median.peakMiB.toFixed(0).padStart(14)}   ${r}`,
      );
    }
    for (const w of ways) console.log(`  ${w.name}: ${w.describe}`);
    console.log('ratio = way / containerd: below 1 is better');
  } finally {
    await containerd?.stop();
    await berthd?.stop();
    await registry?.stop();
    await berthd?.cleanup();
    cdir.remove();
    if (tmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = tmp;
    if (fs) fs.unmount();
    work.remove();
  }
}

await main();
