/**
 * What containerd's own Go client waits for, berthd side by side with
 * Debian's containerd in the same run (test/go/callbench, built offline
 * against Debian's containerd sources):
 *
 * - single calls, each kind one at a time on a warm connection (median, p90);
 * - a container's life in phases (NewContainer with snapshot and spec,
 *   NewTask, Start, Kill until the exit, Task.Delete, container Delete),
 *   --containers times after one warm-up container.
 *
 *   node --import tsx bench/calls.ts [--calls 2000] [--containers 10] [--rounds 3] [--json]
 *
 * Rounds alternate which daemon goes first; the figures are the medians of
 * the rounds' medians (and p90s).
 */
import { execFile } from 'node:child_process';
import { parseArgs, promisify } from 'node:util';
import { ctrOkAsync } from '../test/helpers/ctr.js';
import { startDaemon, type TestDaemon } from '../test/helpers/daemon.js';
import { buildGoProgram } from '../test/helpers/go.js';
import { buildAndPush, busyboxImage } from '../test/helpers/images.js';
import { Registry } from '../test/helpers/registry.js';
import { tempDir } from '../test/helpers/tmp.js';

const run = promisify(execFile);
const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '2000' },
    rounds: { type: 'string', default: '3' },
    containers: { type: 'string', default: '10' },
    json: { type: 'boolean', default: false },
  },
});
const CALLS = Number(values.calls);
const ROUNDS = Number(values.rounds);
const CONTAINERS = Number(values.containers);
if (!Number.isInteger(CALLS) || CALLS < 10) throw new Error('--calls must be an integer ≥ 10');
if (!Number.isInteger(ROUNDS) || ROUNDS < 1) throw new Error('--rounds must be a positive integer');
if (!Number.isInteger(CONTAINERS) || CONTAINERS < 1) {
  throw new Error('--containers must be a positive integer');
}

type Name = 'berthd' | 'containerd';
/** kind → [median µs, p90 µs] per round. */
type Figures = Map<string, [number, number][]>;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

async function main(): Promise<void> {
  const work = tempDir('berth-bench-calls-');
  let registry: Registry | undefined;
  const daemons: { name: Name; d: TestDaemon }[] = [];
  try {
    registry = await Registry.start(work);
    const built = await buildAndPush(work, registry, busyboxImage(), 'bench/calls:1');
    const bench = await buildGoProgram(work, 'callbench');
    for (const name of ['berthd', 'containerd'] as const) {
      const d = await startDaemon(name);
      daemons.push({ name, d });
      await ctrOkAsync(d.socket, ['images', 'pull', '--plain-http', built.pushed.ref], {
        namespace: 'bench-calls',
        timeoutMs: 60_000,
      });
    }
    await registry.stop();
    registry = undefined;

    const figures = new Map<Name, Figures>(daemons.map((x) => [x.name, new Map()]));
    for (let r = 0; r < ROUNDS; r++) {
      const order = r % 2 === 0 ? daemons : [...daemons].reverse();
      for (const x of order) {
        const calls = await run(bench, [x.d.socket, 'bench-calls', String(CALLS)], {
          timeout: 10 * 60_000,
        });
        const life = await run(
          bench,
          ['-lifecycle', x.d.socket, 'bench-calls', built.pushed.ref, String(CONTAINERS)],
          { timeout: 10 * 60_000 },
        );
        for (const line of `${calls.stdout}${life.stdout}`.trim().split('\n')) {
          const [kind, med, p90] = line.split(' ');
          if (kind === undefined) continue;
          const f = figures.get(x.name) as Figures;
          f.set(kind, [...(f.get(kind) ?? []), [Number(med), Number(p90)]]);
        }
      }
    }
    report(figures);
  } finally {
    await registry?.stop();
    for (const x of daemons) await x.d.cleanup();
    work.remove();
  }
}

function report(figures: Map<Name, Figures>): void {
  const b = figures.get('berthd') as Figures;
  const c = figures.get('containerd') as Figures;
  const rows = [...b.keys()].map((kind) => {
    const at = (f: Figures, i: 0 | 1) => median((f.get(kind) ?? []).map((x) => x[i]));
    return {
      kind,
      berthd: { medianUs: at(b, 0), p90Us: at(b, 1) },
      containerd: { medianUs: at(c, 0), p90Us: at(c, 1) },
    };
  });
  if (values.json) {
    console.log(JSON.stringify({ calls: CALLS, rounds: ROUNDS, rows }, null, 2));
    return;
  }
  console.log(
    `Go client: single calls on a warm connection (${CALLS} each), then a container's life in phases (${CONTAINERS} containers after a warm-up); ${ROUNDS} rounds, µs`,
  );
  const pad = (s: string, n: number) => s.padStart(n);
  console.log(
    `${'call'.padEnd(26)}${pad('berthd p50', 12)}${pad('ctrd p50', 10)}${pad('ratio', 8)}${pad('berthd p90', 12)}${pad('ctrd p90', 10)}${pad('ratio', 8)}`,
  );
  for (const r of rows) {
    const ratio = (x: number, y: number) => `${(x / y).toFixed(2)}x`;
    console.log(
      `${r.kind.padEnd(26)}${pad(r.berthd.medianUs.toFixed(0), 12)}${pad(r.containerd.medianUs.toFixed(0), 10)}${pad(ratio(r.berthd.medianUs, r.containerd.medianUs), 8)}${pad(r.berthd.p90Us.toFixed(0), 12)}${pad(r.containerd.p90Us.toFixed(0), 10)}${pad(ratio(r.berthd.p90Us, r.containerd.p90Us), 8)}`,
    );
  }
  console.log('ratio = berthd / containerd: below 1 is better');
}

await main();
