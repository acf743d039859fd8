/**
 * berth's grouped shim (`io.containerd.berth.v1`, one node process per
 * group) against containerd's Go shim (`io.containerd.runc.v2`, one process
 * per container), issue 14's targets, in the same run on the same machine:
 *
 *   node --import tsx bench/shim.ts [--runs 20] [--counts 1,10,50] [--json]
 *                                   [--berth-runtime io.containerd.berth.v1] [--start-rounds 3]
 *
 * Set-ups (each in a namespace of its own; the daemons are started by the
 * bench on temporary directories, with this checkout's bin/ first on PATH):
 *   berth      berthd with the berth shim
 *   go         Debian's containerd with the Go shim (the baseline)
 *   berthd-go  berthd with the Go shim (berthd's share apart from the shim's)
 *   ctd-berth  containerd with the berth shim (the shim apart from berthd)
 *
 * 1. Memory: with 1, 10 and 50 (`--counts`) `sleep 1000` busybox containers
 *    running, the shim processes that serve them (the parents of their init
 *    processes: both shims are child subreapers) and the sum of their Pss
 *    and Rss from /proc/<pid>/smaps_rollup, per container, with berthd's
 *    idle spare shim for the berth set-up (shims column `1+1`). PSS divides each
 *    shared page among the processes that map it (the 50 Go shims share
 *    their binary's text; the berth shim shares node's with berthd).
 * 2. `N × ctr run -d` for the largest count: wall seconds of starting them
 *    one after the other (part of 1), and again in `--start-rounds` rounds
 *    (default 3) with the set-ups alternating, whose medians make the ratio.
 * 3. `ctr run --rm --runtime R <busybox> <id> true`, median and p90 of
 *    `--runs`, set-ups alternating: cold (no other container in the
 *    namespace: the group's shim is new at every run: under berthd, the
 *    spare it keeps ready, then a node start for the next spare; under
 *    containerd, `start` and the daemon's node starts) and warm (one
 *    `sleep` container of the namespace running: the berth shim is alive and
 *    the run joins it). The Go shim starts one process per container either
 *    way.
 *
 * Targets (issue 14): berth ≤ 0.5× go's PSS per container at 50; run --rm
 * ≤ 0.7×; 50 × run -d ≤ 0.8×. Every phase removes what it made and checks
 * that no task, container, shim or mount is left.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ctrOkAsync, taskList } from '../test/helpers/ctr.js';
import {
  alive,
  mountsUnder,
  spareShimPids,
  startDaemon,
  type TestDaemon,
  waitFor,
} from '../test/helpers/daemon.js';
import { buildAndPush, busyboxImage } from '../test/helpers/images.js';
import { Registry } from '../test/helpers/registry.js';
import { BERTH_RUNTIME, REPO_BIN, RUNC_RUNTIME, SHIM_BINARY } from '../test/helpers/runtime.js';
import { memoryOf, shimsServing } from '../test/helpers/shims.js';
import { tempDir } from '../test/helpers/tmp.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '20' },
    counts: { type: 'string', default: '1,10,50' },
    'berth-runtime': { type: 'string', default: BERTH_RUNTIME },
    'start-rounds': { type: 'string', default: '3' },
    json: { type: 'boolean', default: false },
  },
});
const RUNS = Number(values.runs);
const COUNTS = (values.counts ?? '').split(',').map(Number);
const START_ROUNDS = Number(values['start-rounds']);
if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error('--runs must be a positive integer');
if (!Number.isInteger(START_ROUNDS) || START_ROUNDS < 0) {
  throw new Error('--start-rounds must be a non-negative integer');
}
if (COUNTS.some((n) => !Number.isInteger(n) || n < 1)) {
  throw new Error('--counts must be positive integers, e.g. 1,10,50');
}
/** The runtime of the `berth` set-up: one flag to dry-run the bench on the Go shim. */
const BERTH_SHIM_RUNTIME = values['berth-runtime'] ?? BERTH_RUNTIME;

type SetupName = 'berth' | 'go' | 'berthd-go' | 'ctd-berth';

interface Setup {
  name: SetupName;
  d: TestDaemon;
  runtime: string;
}

interface MemoryRow {
  containers: number;
  shims: number;
  /** berthd's idle spare shims, counted in the sums (src/runtime/v2/spare-shim.ts). */
  spares: number;
  pssKiB: number;
  rssKiB: number;
  /** Wall seconds of the `ctr run -d`s, one after the other. */
  startS: number;
}

interface Latency {
  runsMs: number[];
  medianMs: number;
  p90Ms: number;
}

interface Result {
  runtime: string;
  daemon: string;
  memory: MemoryRow[];
  cold: Latency;
  warm: Latency;
  /** Wall seconds of each alternating round of N × `ctr run -d` ({@link starts}). */
  startRoundsS: number[];
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  if (q === 0.5) {
    const mid = Math.floor(s.length / 2);
    return s.length % 2 === 1
      ? (s[mid] as number)
      : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
  }
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] as number;
}

async function timedMs(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/** A namespace of the bench's own per set-up and phase (runc keeps state under /run/containerd/runc/<ns>). */
function ns(s: Setup, phase: string): string {
  return `bench-shim-${process.pid}-${s.name}-${phase}`;
}

function ctr(s: Setup, namespace: string, args: string[]): Promise<string> {
  return ctrOkAsync(s.d.socket, args, { namespace, timeoutMs: 60_000 });
}

function runArgs(s: Setup, image: string, id: string, cmd: string[], detach: boolean): string[] {
  return ['run', detach ? '-d' : '--rm', '--runtime', s.runtime, image, id, ...cmd];
}

/** Kills and removes every task and container of `namespace`, then checks that nothing of it is left. */
async function empty(s: Setup, namespace: string, shims: number[]): Promise<void> {
  const tasks = await taskList(s.d.socket, { namespace });
  for (const t of tasks) await ctr(s, namespace, ['tasks', 'kill', '-s', 'SIGKILL', t.id]);
  for (const t of tasks) await ctr(s, namespace, ['tasks', 'rm', '-f', t.id]);
  const containers = (await ctr(s, namespace, ['containers', 'ls', '-q']))
    .split('\n')
    .filter((l) => l !== '');
  if (containers.length > 0) await ctr(s, namespace, ['containers', 'rm', ...containers]);
  await waitFor(`${s.name}'s shims to exit`, () => shims.every((p) => !alive(p)), 20_000);
  const left = [
    ...(await taskList(s.d.socket, { namespace })).map((t) => `task ${t.id}`),
    ...(await ctr(s, namespace, ['containers', 'ls', '-q']))
      .split('\n')
      .filter((l) => l !== '')
      .map((c) => `container ${c}`),
    ...mountsUnder(join(s.d.state, 'io.containerd.runtime.v2.task', namespace)).map(
      (m) => `mount ${m}`,
    ),
  ];
  if (left.length > 0) throw new Error(`${s.name}: left in ${namespace}:\n${left.join('\n')}`);
}

async function memory(s: Setup, image: string, n: number): Promise<MemoryRow> {
  const namespace = ns(s, `mem${n}`);
  const ids = Array.from({ length: n }, (_, i) => `m${i}`);
  let shims: number[] = [];
  try {
    const startS =
      (await timedMs(async () => {
        for (const id of ids)
          await ctr(s, namespace, runArgs(s, image, id, ['sleep', '1000'], true));
      })) / 1000;
    const tasks = await taskList(s.d.socket, { namespace });
    if (tasks.filter((t) => t.status === 'RUNNING').length !== n) {
      throw new Error(`${s.name}: ${JSON.stringify(tasks)} (expected ${n} running)`);
    }
    shims = shimsServing(
      tasks.map((t) => t.pid),
      s.runtime,
    );
    // Let the shims settle (the Go shims' runtime, node's lazy compilation) before measuring.
    await new Promise((r) => setTimeout(r, 2000));
    // berthd's idle spare of berth's shim serves no container yet, but is there because of
    // it: counted with the shims of a set-up on berth's shim.
    const spares = s.runtime === BERTH_RUNTIME ? spareShimPids(s.d.socket) : [];
    let pssKiB = 0;
    let rssKiB = 0;
    for (const p of [...shims, ...spares]) {
      const m = memoryOf(p);
      pssKiB += m.pssKiB;
      rssKiB += m.rssKiB;
    }
    return { containers: n, shims: shims.length, spares: spares.length, pssKiB, rssKiB, startS };
  } finally {
    await empty(s, namespace, shims);
  }
}

/** `ctr run --rm … true` --runs times per set-up, alternating, after one untimed run each. */
async function latency(
  setups: Setup[],
  image: string,
  warm: boolean,
): Promise<Map<SetupName, Latency>> {
  const phase = warm ? 'warm' : 'cold';
  const out = new Map<SetupName, Latency>(
    setups.map((s) => [s.name, { runsMs: [], medianMs: 0, p90Ms: 0 }]),
  );
  const keepers = new Map<SetupName, number[]>();
  try {
    for (const s of setups) {
      if (warm) {
        await ctr(s, ns(s, phase), runArgs(s, image, 'keeper', ['sleep', '1000'], true));
        const pids = (await taskList(s.d.socket, { namespace: ns(s, phase) })).map((t) => t.pid);
        keepers.set(s.name, shimsServing(pids, s.runtime));
      }
      await ctr(s, ns(s, phase), runArgs(s, image, 'warmup', ['true'], false));
    }
    for (let r = 0; r < RUNS; r++) {
      const order = r % 2 === 0 ? setups : [...setups].reverse();
      for (const s of order) {
        const ms = await timedMs(() =>
          ctr(s, ns(s, phase), runArgs(s, image, `r${r}`, ['true'], false)),
        );
        out.get(s.name)?.runsMs.push(ms);
      }
    }
  } finally {
    for (const s of setups) await empty(s, ns(s, phase), keepers.get(s.name) ?? []);
  }
  for (const l of out.values()) {
    l.medianMs = quantile(l.runsMs, 0.5);
    l.p90Ms = quantile(l.runsMs, 0.9);
  }
  return out;
}

/**
 * `n` × `ctr run -d … sleep 1000` one after the other, per set-up, in
 * --start-rounds rounds with the set-ups alternating (each batch removed
 * before the next set-up's): unlike the memory phase's starts, where the
 * set-ups run one after the other, a machine that slows down or speeds up
 * meanwhile weighs on every set-up alike. Wall seconds per batch.
 */
async function starts(
  setups: Setup[],
  image: string,
  n: number,
): Promise<Map<SetupName, number[]>> {
  const out = new Map<SetupName, number[]>(setups.map((s) => [s.name, []]));
  for (let r = 0; r < START_ROUNDS; r++) {
    const order = r % 2 === 0 ? setups : [...setups].reverse();
    for (const s of order) {
      const namespace = ns(s, 'start');
      let shims: number[] = [];
      try {
        const ms = await timedMs(async () => {
          for (let i = 0; i < n; i++) {
            await ctr(s, namespace, runArgs(s, image, `s${r}-${i}`, ['sleep', '1000'], true));
          }
        });
        out.get(s.name)?.push(ms / 1000);
        const pids = (await taskList(s.d.socket, { namespace })).map((t) => t.pid);
        shims = shimsServing(pids, s.runtime);
      } finally {
        await empty(s, namespace, shims);
      }
    }
  }
  return out;
}

async function main(): Promise<void> {
  if (BERTH_SHIM_RUNTIME === BERTH_RUNTIME) {
    const bin = join(REPO_BIN, SHIM_BINARY[BERTH_RUNTIME] ?? '');
    if (!existsSync(bin)) {
      throw new Error(
        `${bin} is missing: build berth's shim (npm run build), or dry-run with --berth-runtime ${RUNC_RUNTIME}`,
      );
    }
  }
  const log = (line: string) => {
    if (!values.json) console.error(line);
  };
  const work = tempDir('berth-bench-shim-');
  let registry: Registry | undefined;
  const daemons: TestDaemon[] = [];
  try {
    registry = await Registry.start(work);
    const built = await buildAndPush(work, registry, busyboxImage(), 'bench/shim:1');
    const image = built.pushed.ref;
    const berthd = await startDaemon('berthd');
    daemons.push(berthd);
    const containerd = await startDaemon('containerd');
    daemons.push(containerd);
    const setups: Setup[] = [
      { name: 'berth', d: berthd, runtime: BERTH_SHIM_RUNTIME },
      { name: 'go', d: containerd, runtime: RUNC_RUNTIME },
      { name: 'berthd-go', d: berthd, runtime: RUNC_RUNTIME },
      { name: 'ctd-berth', d: containerd, runtime: BERTH_SHIM_RUNTIME },
    ];
    // Images are per namespace: pull into each namespace the phases use.
    const phases = [...COUNTS.map((n) => `mem${n}`), 'cold', 'warm', 'start'];
    for (const s of setups) {
      for (const p of phases) {
        await ctr(s, ns(s, p), ['images', 'pull', '--plain-http', image]);
      }
    }
    await registry.stop();
    registry = undefined;

    const results = {} as Record<SetupName, Result>;
    for (const s of setups) {
      results[s.name] = {
        runtime: s.runtime,
        daemon: s.d.kind,
        memory: [],
        cold: { runsMs: [], medianMs: 0, p90Ms: 0 },
        warm: { runsMs: [], medianMs: 0, p90Ms: 0 },
        startRoundsS: [],
      };
    }
    for (const n of COUNTS) {
      // One set-up at a time: no other's containers load the machine meanwhile.
      for (const s of setups) {
        const m = await memory(s, image, n);
        results[s.name].memory.push(m);
        log(
          `${s.name}: ${n} running, ${m.shims} shims + ${m.spares} spare, PSS ${(m.pssKiB / 1024).toFixed(1)} MiB, RSS ${(m.rssKiB / 1024).toFixed(1)} MiB; started in ${m.startS.toFixed(1)} s`,
        );
      }
    }
    for (const warm of [false, true]) {
      const l = await latency(setups, image, warm);
      for (const s of setups) {
        const x = l.get(s.name);
        if (x === undefined) continue;
        results[s.name][warm ? 'warm' : 'cold'] = x;
        log(
          `${s.name}: ctr run --rm (${warm ? 'warm' : 'cold'}) median ${x.medianMs.toFixed(0)} ms, p90 ${x.p90Ms.toFixed(0)} ms`,
        );
      }
    }
    const n = COUNTS[COUNTS.length - 1] ?? 0;
    const rounds = await starts(setups, image, n);
    for (const s of setups) {
      results[s.name].startRoundsS = rounds.get(s.name) ?? [];
      log(
        `${s.name}: ${n} × ctr run -d, alternating rounds: ${results[s.name].startRoundsS.map((x) => x.toFixed(1)).join(' ')} s`,
      );
    }
    report(results);
  } finally {
    await registry?.stop();
    for (const d of daemons) await d.cleanup();
    work.remove();
  }
}

/** Width of the set-up column. */
const NAME_W = 50;

function report(results: Record<SetupName, Result>): void {
  const b = results.berth;
  const g = results.go;
  const bg = results['berthd-go'];
  const cb = results['ctd-berth'];
  const last = COUNTS.length - 1;
  const ratio = {
    pssPerContainer: b.memory.map((m, i) => ({
      containers: m.containers,
      ratio: m.pssKiB / (g.memory[i]?.pssKiB ?? Number.NaN),
    })),
    rssPerContainer: b.memory.map((m, i) => ({
      containers: m.containers,
      ratio: m.rssKiB / (g.memory[i]?.rssKiB ?? Number.NaN),
    })),
    runRmCold: b.cold.medianMs / g.cold.medianMs,
    runRmWarm: b.warm.medianMs / g.warm.medianMs,
    runD: (b.memory[last]?.startS ?? Number.NaN) / (g.memory[last]?.startS ?? Number.NaN),
    runDRounds: quantile(b.startRoundsS, 0.5) / quantile(g.startRoundsS, 0.5),
  };
  if (values.json) {
    process.stdout.write(
      `${JSON.stringify({ runs: RUNS, counts: COUNTS, results, ratio }, null, 2)}\n`,
    );
    return;
  }
  const col = (x: string, w = 10) => x.padStart(w);
  const mib = (kib: number) => col((kib / 1024).toFixed(1));
  const r = (x: number) => col(`${x.toFixed(2)}x`);
  const setups: [string, Result][] = [
    [`berthd + berth shim (${b.runtime})`, b],
    ['containerd + Go shim', g],
    ['berthd + Go shim', bg],
    [`containerd + berth shim (${cb.runtime})`, cb],
  ];
  console.log(
    'Shim memory: the processes serving N running `sleep 1000` containers (smaps_rollup), MiB',
  );
  console.log(
    `${'set-up'.padEnd(NAME_W)}${col('N', 4)}${col('shims', 6)}${col('PSS')}${col('PSS/ctr')}${col('RSS')}${col('RSS/ctr')}`,
  );
  for (const [i, n] of COUNTS.entries()) {
    for (const [name, x] of setups) {
      const m = x.memory[i];
      if (m === undefined) continue;
      console.log(
        `${name.padEnd(NAME_W)}${col(String(n), 4)}${col(m.spares > 0 ? `${m.shims}+${m.spares}` : String(m.shims), 6)}${mib(m.pssKiB)}${mib(m.pssKiB / n)}${mib(m.rssKiB)}${mib(m.rssKiB / n)}`,
      );
    }
    const pr = ratio.pssPerContainer[i]?.ratio ?? Number.NaN;
    const rr = ratio.rssPerContainer[i]?.ratio ?? Number.NaN;
    console.log(
      `${'ratio berth / Go (containerd)'.padEnd(NAME_W + 10)}${r(pr)}${r(pr)}${r(rr)}${r(rr)}`,
    );
  }
  console.log('');
  console.log(
    `ctr run --rm --runtime R <busybox> <id> true: ${RUNS} runs per set-up, alternating; wall ms`,
  );
  console.log(
    `${'set-up'.padEnd(NAME_W)}${col('cold med')}${col('cold p90')}${col('warm med')}${col('warm p90')}`,
  );
  for (const [name, x] of setups) {
    console.log(
      `${name.padEnd(NAME_W)}${col(x.cold.medianMs.toFixed(0))}${col(x.cold.p90Ms.toFixed(0))}${col(x.warm.medianMs.toFixed(0))}${col(x.warm.p90Ms.toFixed(0))}`,
    );
  }
  console.log(
    `${'ratio berth / Go (containerd)'.padEnd(NAME_W)}${r(ratio.runRmCold)}${col('')}${r(ratio.runRmWarm)}`,
  );
  console.log('');
  const n = COUNTS[last] ?? 0;
  console.log(`${n} × ctr run -d <busybox> <id> sleep 1000, one after the other: wall s`);
  for (const [name, x] of setups) {
    console.log(`${name.padEnd(NAME_W)}${col((x.memory[last]?.startS ?? Number.NaN).toFixed(1))}`);
  }
  console.log(`${'ratio berth / Go (containerd)'.padEnd(NAME_W)}${r(ratio.runD)}`);
  console.log('');
  console.log(
    `${n} × ctr run -d, ${START_ROUNDS} rounds with the set-ups alternating: median wall s (each round)`,
  );
  for (const [name, x] of setups) {
    console.log(
      `${name.padEnd(NAME_W)}${col(quantile(x.startRoundsS, 0.5).toFixed(1))}  (${x.startRoundsS.map((v) => v.toFixed(1)).join(' ')})`,
    );
  }
  console.log(`${'ratio berth / Go (containerd)'.padEnd(NAME_W)}${r(ratio.runDRounds)}`);
  console.log('');
  const pss = ratio.pssPerContainer.find((x) => x.containers === 50)?.ratio;
  console.log(
    `targets (issue 14): PSS/container at 50 ≤ 0.50x: ${pss === undefined ? 'n/a' : r(pss).trim()}; run --rm ≤ 0.70x: ${r(ratio.runRmCold).trim()} cold, ${r(ratio.runRmWarm).trim()} warm; ${n} × run -d ≤ 0.80x: ${r(ratio.runDRounds).trim()} alternating (${r(ratio.runD).trim()} in the memory phase)`,
  );
}

await main();
