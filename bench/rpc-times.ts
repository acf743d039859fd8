/**
 * Where berthd's time goes in `ctr run`: berthd at trace level, --runs
 * `ctr run --rm <busybox> <id> true` and `ctr run -d … sleep 1000`, then the
 * server's per-call durations (the 'unary call' trace lines) summed per method.
 *
 *   node --import tsx bench/rpc-times.ts [--runs 10] [--runtime io.containerd.runc.v2] [--gap-ms 0]
 */
import { parseArgs } from 'node:util';
import { Berthd } from '../test/helpers/berthd.js';
import { ctrOkAsync } from '../test/helpers/ctr.js';
import { buildAndPush, busyboxImage } from '../test/helpers/images.js';
import { Registry } from '../test/helpers/registry.js';
import { tempDir } from '../test/helpers/tmp.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '10' },
    runtime: { type: 'string' },
    /** A pause before each `run --rm` (e.g. so that berthd's spare shim is ready again). */
    'gap-ms': { type: 'string', default: '0' },
  },
});
const RUNS = Number(values.runs);
const GAP_MS = Number(values['gap-ms']);
const rt = values.runtime === undefined ? [] : ['--runtime', values.runtime];

function summary(lines: string[], title: string): void {
  const per = new Map<string, number[]>();
  for (const l of lines) {
    if (!l.includes('unary call') && !l.includes('stream call')) continue;
    try {
      const o = JSON.parse(l) as { method?: string; ms?: number };
      if (o.method === undefined || o.ms === undefined) continue;
      const a = per.get(o.method) ?? [];
      a.push(o.ms);
      per.set(o.method, a);
    } catch {}
  }
  console.log(`\n${title}: method, calls per run, median ms, total ms per run`);
  let total = 0;
  for (const [m, xs] of [...per].sort(
    (a, b) => b[1].reduce((s, x) => s + x, 0) - a[1].reduce((s, x) => s + x, 0),
  )) {
    const s = [...xs].sort((a, b) => a - b);
    const sum = xs.reduce((a, x) => a + x, 0) / RUNS;
    total += sum;
    console.log(
      `${m.padEnd(60)} ${(xs.length / RUNS).toFixed(1).padStart(5)} ${s[Math.floor(s.length / 2)]!.toFixed(2).padStart(8)} ${sum.toFixed(2).padStart(8)}`,
    );
  }
  const steps = new Map<string, number[]>();
  for (const l of lines) {
    if (!l.includes('task created')) continue;
    try {
      const o = JSON.parse(l) as { ms?: Record<string, number> };
      for (const [k, v] of Object.entries(o.ms ?? {})) steps.set(k, [...(steps.get(k) ?? []), v]);
    } catch {}
  }
  for (const [k, xs] of steps) {
    const s = [...xs].sort((a, b) => a - b);
    console.log(
      `  Tasks.Create step '${k}' done at median ${s[Math.floor(s.length / 2)]!.toFixed(1)} ms`,
    );
  }
  console.log(
    `${'total'.padEnd(60)} ${''.padStart(5)} ${''.padStart(8)} ${total.toFixed(2).padStart(8)}`,
  );
}

const work = tempDir('berth-rpc-times-');
const reg = await Registry.start(work);
const built = await buildAndPush(work, reg, busyboxImage(), 'bench/rpc:1');
const d = await Berthd.start({ args: ['--log-level', 'trace'] });
const c = (args: string[]) => ctrOkAsync(d.socket, args, { namespace: 'rpct', timeoutMs: 60_000 });
try {
  await c(['images', 'pull', '--plain-http', built.pushed.ref]);
  await reg.stop();
  await c(['run', ...rt, '--rm', built.pushed.ref, 'warm', 'true']);
  let mark = d.output.length;
  let t0 = performance.now();
  let paused = 0;
  for (let i = 0; i < RUNS; i++) {
    if (GAP_MS > 0) {
      await new Promise((r) => setTimeout(r, GAP_MS));
      paused += GAP_MS;
    }
    await c(['run', ...rt, '--rm', built.pushed.ref, `r${i}`, 'true']);
  }
  console.log(`run --rm: ${((performance.now() - t0 - paused) / RUNS).toFixed(1)} ms each`);
  summary(d.output.slice(mark).split('\n'), 'ctr run --rm');
  mark = d.output.length;
  t0 = performance.now();
  const each: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    await c(['run', ...rt, '-d', built.pushed.ref, `d${i}`, 'sleep', '1000']);
    each.push(performance.now() - t);
  }
  console.log(`run -d each: ${each.map((x) => x.toFixed(0)).join(' ')}`);
  console.log(`\nrun -d: ${((performance.now() - t0) / RUNS).toFixed(1)} ms each`);
  summary(d.output.slice(mark).split('\n'), 'ctr run -d');
  for (let i = 0; i < RUNS; i++) {
    await c(['tasks', 'kill', '-s', 'SIGKILL', `d${i}`]);
    await c(['tasks', 'rm', '-f', `d${i}`]);
    await c(['containers', 'rm', `d${i}`]);
  }
} finally {
  await d.stop().catch(() => {});
  d.dir.remove();
  work.remove();
}
