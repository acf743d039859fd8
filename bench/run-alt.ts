/**
 * Quick A/B of `ctr run` on two daemons (or two berthd builds) in one run,
 * alternating: `ctr run --rm <busybox> <id> true` and `ctr run -d … sleep 1000`
 * (wall ms, median), the -d containers removed at the end; and each daemon's
 * CPU (utime + stime of all its threads, from /proc) per pair of runs: the
 * figure the noise of a shared 2-core machine moves least. `--berthd2` adds a
 * third side, another build's bin/berthd (copy bin/, dist/ and package.json
 * of the other build into a directory inside this checkout, so node finds
 * node_modules), started on a temp dir of its own.
 *
 *   node --import tsx bench/run-alt.ts [--runs 20] [--runtime R] [--berthd-runtime R] [--berthd2 <bin/berthd of another checkout>]
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ctrOkAsync } from '../test/helpers/ctr.js';
import { startDaemon, type TestDaemon } from '../test/helpers/daemon.js';
import { buildAndPush, busyboxImage } from '../test/helpers/images.js';
import { Registry } from '../test/helpers/registry.js';
import { tempDir } from '../test/helpers/tmp.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '20' },
    runtime: { type: 'string', default: 'io.containerd.runc.v2' },
    'berthd-runtime': { type: 'string' },
    only: { type: 'string' },
    /** Another berthd (bin/berthd of another build): a third side, 'berthd2'. */
    berthd2: { type: 'string' },
  },
});
const RUNS = Number(values.runs);

/** The process's CPU time so far (user + system, ms). */
function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
}

interface Side {
  name: string;
  pid: number;
  socket: string;
  runtime: string;
  stop: () => Promise<void>;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
};

const work = tempDir('berth-run-alt-');
const reg = await Registry.start(work);
const built = await buildAndPush(work, reg, busyboxImage(), 'bench/alt:1');
const image = built.pushed.ref;
const sides: Side[] = [];
const daemons: TestDaemon[] = [];
try {
  for (const kind of ['berthd', 'containerd'] as const) {
    if (values.only !== undefined && values.only !== kind) continue;
    const d = await startDaemon(kind);
    daemons.push(d);
    sides.push({
      name: kind,
      socket: d.socket,
      pid: d.pid,
      runtime: kind === 'berthd' ? (values['berthd-runtime'] ?? values.runtime) : values.runtime,
      stop: () => d.cleanup(),
    });
  }
  if (values.berthd2 !== undefined) {
    const dir = tempDir('berth-run-alt-b2-');
    const socket = join(dir.path, 'berthd.sock');
    const p = spawn(
      values.berthd2,
      ['--root', join(dir.path, 'root'), '--state', join(dir.path, 'state'), '--address', socket],
      { stdio: 'ignore' },
    );
    for (let i = 0; ; i++) {
      if ((await ctrOkAsync(socket, ['version']).catch(() => undefined)) !== undefined) break;
      if (i > 100) throw new Error('berthd2 does not answer');
      await new Promise((r) => setTimeout(r, 100));
    }
    sides.push({
      name: 'berthd2',
      socket,
      pid: p.pid!,
      runtime: values['berthd-runtime'] ?? values.runtime,
      stop: async () => {
        p.kill('SIGTERM');
        await new Promise((r) => p.once('exit', r));
        dir.remove();
      },
    });
  }
  // A namespace per daemon: the stock shim keeps runc state under /run/containerd/runc/<ns>.
  const nsOf = (s: Side) => `alt-${process.pid}-${s.name}`;
  const c = (s: Side, args: string[]) =>
    ctrOkAsync(s.socket, args, { namespace: nsOf(s), timeoutMs: 60_000 });
  for (const s of sides) {
    await c(s, ['images', 'pull', '--plain-http', image]);
    await c(s, ['run', '--runtime', s.runtime, '--rm', image, 'warm', 'true']);
  }
  await reg.stop();
  const rm = new Map(sides.map((s) => [s.name, [] as number[]]));
  const det = new Map(sides.map((s) => [s.name, [] as number[]]));
  const cpu = new Map(sides.map((s) => [s.name, 0]));
  for (let r = 0; r < RUNS; r++) {
    const order = r % 2 === 0 ? sides : [...sides].reverse();
    for (const s of order) {
      const c0 = cpuMs(s.pid);
      let t = performance.now();
      await c(s, ['run', '--runtime', s.runtime, '--rm', image, `r${r}`, 'true']);
      rm.get(s.name)!.push(performance.now() - t);
      t = performance.now();
      await c(s, ['run', '--runtime', s.runtime, '-d', image, `d${r}`, 'sleep', '1000']);
      det.get(s.name)!.push(performance.now() - t);
      cpu.set(s.name, cpu.get(s.name)! + cpuMs(s.pid) - c0);
    }
  }
  for (const s of sides) {
    console.log(
      `${s.name.padEnd(11)} ${s.runtime}: run --rm median ${median(rm.get(s.name)!).toFixed(1)} ms, run -d median ${median(det.get(s.name)!).toFixed(1)} ms, daemon CPU ${(cpu.get(s.name)! / RUNS).toFixed(1)} ms per pair`,
    );
  }
  for (const s of sides) {
    for (let r = 0; r < RUNS; r++) {
      await c(s, ['tasks', 'kill', '-s', 'SIGKILL', `d${r}`]);
      await c(s, ['tasks', 'rm', '-f', `d${r}`]);
      await c(s, ['containers', 'rm', `d${r}`]);
    }
  }
} finally {
  for (const d of daemons) await d.cleanup().catch(() => {});
  for (const s of sides) if (s.name === 'berthd2') await s.stop().catch(() => {});
  await reg.stop().catch(() => {});
  work.remove();
}
