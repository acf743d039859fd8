/**
 * Unary RPC latency and throughput, berthd side by side with Debian's
 * containerd in the same run, reported as berthd/containerd ratios.
 *
 *   node --import tsx bench/unary.ts [--calls 10000] [--concurrency 32] [--memory-calls 20000]
 *                                   [--rounds 3] [--json]
 *
 * Both daemons run on temporary directories and are driven by the same
 * client (grpc-js, one channel), so the client's cost is the same on both
 * sides and the ratio compares the servers.
 *
 * Memory first: each daemon's VmRSS and RssAnon when idle after start (once
 * it answers, plus a second to settle), then after --memory-calls sequential
 * unary calls (Version and Namespaces.List alternating, one daemon after the
 * other). Then the latency rounds (--rounds 0 skips them).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Client } from '../src/client/index.js';
import { Berthd } from '../test/helpers/berthd.js';
import { Containerd } from '../test/helpers/containerd.js';
import { tempDir } from '../test/helpers/tmp.js';
import { type Memory, memory, statusKiB } from './proc.js';

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '10000' },
    concurrency: { type: 'string', default: '32' },
    warmup: { type: 'string', default: '5000' },
    rounds: { type: 'string', default: '3' },
    'memory-calls': { type: 'string', default: '20000' },
    json: { type: 'boolean', default: false },
  },
});
const CALLS = Number(values.calls);
const CONCURRENCY = Number(values.concurrency);
const WARMUP = Number(values.warmup);
const ROUNDS = Number(values.rounds);
const MEMORY_CALLS = Number(values['memory-calls']);

interface Figures {
  p50: number;
  p99: number;
  mean: number;
  throughput: number;
}

type Op = (c: Client) => Promise<unknown>;

const OPS: Record<string, Op> = {
  Version: (c) => c.version(),
  'Namespaces.List': (c) => c.namespaces.list(),
};

async function sequential(client: Client, op: Op, n: number): Promise<number[]> {
  const times = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    await op(client);
    times[i] = Number(process.hrtime.bigint() - t0) / 1e3;
  }
  return times;
}

async function concurrent(client: Client, op: Op, n: number, width: number): Promise<number> {
  let next = 0;
  const t0 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next++ < n) await op(client);
    }),
  );
  return n / (Number(process.hrtime.bigint() - t0) / 1e9);
}

function figures(us: number[], throughput: number): Figures {
  const s = [...us].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0;
  return { p50: at(0.5), p99: at(0.99), mean: s.reduce((a, b) => a + b, 0) / s.length, throughput };
}

async function measure(socket: string, first: boolean): Promise<Record<string, Figures>> {
  // containerd publishes namespace events in the caller's namespace, so it
  // needs one even for Namespaces.Create; ctr always sends "default".
  const client = new Client(socket, { namespace: 'default' });
  try {
    // The same ten namespaces on both sides, so List returns equal payloads.
    if (first) {
      for (let i = 0; i < 10; i++) await client.namespaces.create(`bench-${i}`, { i: String(i) });
    }
    const out: Record<string, Figures> = {};
    for (const [name, op] of Object.entries(OPS)) {
      await sequential(client, op, WARMUP);
      const lat = await sequential(client, op, CALLS);
      const tput = await concurrent(client, op, CALLS, CONCURRENCY);
      out[name] = figures(lat, tput);
    }
    return out;
  } finally {
    client.close();
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

function medianFigures(rounds: Record<string, Figures>[]): Record<string, Figures> {
  const out: Record<string, Figures> = {};
  for (const op of Object.keys(OPS)) {
    const of = (k: keyof Figures) => median(rounds.map((r) => r[op]?.[k] ?? 0));
    out[op] = { p50: of('p50'), p99: of('p99'), mean: of('mean'), throughput: of('throughput') };
  }
  return out;
}

/** `n` sequential calls, Version and Namespaces.List alternating, on one fresh client. */
async function calls(socket: string, n: number): Promise<void> {
  const client = new Client(socket, { namespace: 'default' });
  try {
    for (let i = 0; i < n; i++)
      await (i % 2 === 0 ? OPS.Version! : OPS['Namespaces.List']!)(client);
  } finally {
    client.close();
  }
}

interface MemoryFigures {
  idle: Memory;
  afterCalls: Memory;
}

async function main(): Promise<void> {
  const cdir = tempDir('berth-bench-containerd-');
  let berthd: Berthd | undefined;
  let containerd: Containerd | undefined;
  try {
    berthd = await Berthd.start();
    containerd = await Containerd.start(cdir);
    await sleep(1000);
    const mem: Record<'berthd' | 'containerd', MemoryFigures> = {
      berthd: { idle: memory(berthd.pid), afterCalls: { rssKiB: 0, anonKiB: 0 } },
      containerd: { idle: memory(containerd.pid), afterCalls: { rssKiB: 0, anonKiB: 0 } },
    };
    await calls(berthd.socket, MEMORY_CALLS);
    await calls(containerd.socket, MEMORY_CALLS);
    await sleep(1000);
    mem.berthd.afterCalls = memory(berthd.pid);
    mem.containerd.afterCalls = memory(containerd.pid);
    // Rounds alternate between the daemons so that warm-up (of the shared
    // client, and of each daemon's JIT) and background noise fall on both;
    // each figure is the median over the rounds.
    const bRounds: Record<string, Figures>[] = [];
    const cRounds: Record<string, Figures>[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      bRounds.push(await measure(berthd.socket, round === 0));
      cRounds.push(await measure(containerd.socket, round === 0));
    }
    const b1 = medianFigures(bRounds);
    const c1 = medianFigures(cRounds);
    const rss = {
      berthd: statusKiB(berthd.pid, 'VmRSS'),
      containerd: statusKiB(containerd.pid, 'VmRSS'),
    };
    const rows = (ROUNDS === 0 ? [] : Object.keys(OPS)).map((op) => {
      const b = b1[op]!;
      const c = c1[op]!;
      return {
        op,
        berthd: b,
        containerd: c,
        ratio: {
          p50: b.p50 / c.p50,
          p99: b.p99 / c.p99,
          throughput: b.throughput / c.throughput,
        },
      };
    });
    if (values.json) {
      process.stdout.write(
        `${JSON.stringify(
          {
            calls: CALLS,
            concurrency: CONCURRENCY,
            memoryCalls: MEMORY_CALLS,
            memory: mem,
            rows,
            rssKiB: rss,
          },
          null,
          2,
        )}\n`,
      );
      return;
    }
    const f = (n: number) => n.toFixed(0).padStart(7);
    const r = (n: number) => `${n.toFixed(2)}x`.padStart(7);
    const mib = (kib: number) => (kib / 1024).toFixed(1).padStart(9);
    console.log(`daemon memory in MiB: idle after start, and after ${MEMORY_CALLS} unary calls`);
    console.log('daemon      idle VmRSS  idle anon  calls VmRSS calls anon');
    const line = (who: string, m: MemoryFigures) =>
      console.log(
        `${who.padEnd(10)} ${mib(m.idle.rssKiB)}  ${mib(m.idle.anonKiB)}  ${mib(m.afterCalls.rssKiB)}  ${mib(m.afterCalls.anonKiB)}`,
      );
    line('berthd', mem.berthd);
    line('containerd', mem.containerd);
    const q = (k: keyof MemoryFigures, m: keyof Memory) =>
      `${(mem.berthd[k][m] / mem.containerd[k][m]).toFixed(2)}x`.padStart(9);
    console.log(
      `${'ratio'.padEnd(10)} ${q('idle', 'rssKiB')}  ${q('idle', 'anonKiB')}  ${q('afterCalls', 'rssKiB')}  ${q('afterCalls', 'anonKiB')}`,
    );
    if (rows.length === 0) return;
    console.log(
      `${CALLS} calls each, sequential latency (µs) and throughput at ${CONCURRENCY} in flight`,
    );
    console.log('op                daemon       p50     p99    mean   calls/s');
    for (const row of rows) {
      for (const [who, v] of [
        ['berthd', row.berthd],
        ['containerd', row.containerd],
      ] as const) {
        console.log(
          `${row.op.padEnd(17)} ${who.padEnd(10)} ${f(v.p50)} ${f(v.p99)} ${f(v.mean)} ${f(v.throughput)}`,
        );
      }
      console.log(
        `${row.op.padEnd(17)} ${'ratio'.padEnd(10)} ${r(row.ratio.p50)} ${r(row.ratio.p99)} ${''.padStart(7)} ${r(row.ratio.throughput)}`,
      );
    }
    console.log(
      `RSS after the run: berthd ${rss.berthd} KiB, containerd ${rss.containerd} KiB (${(rss.berthd / rss.containerd).toFixed(2)}x)`,
    );
    console.log(
      'ratio = berthd / containerd: below 1 is better for latency, above 1 is better for throughput',
    );
  } finally {
    await containerd?.stop();
    await berthd?.cleanup();
    cdir.remove();
  }
}

await main();
