/**
 * berth-logger's start: time from spawning it as containerd's shim does (env
 * CONTAINER_ID and CONTAINER_NAMESPACE only, no PATH; fds 3/4 the container's
 * pipes, fd 5 the ready pipe) until its ready byte arrives, which is what a
 * container start waits for. Median and p90 of --runs, for bin/berth-logger
 * (sh, then node with its flags) and for node run directly on the compiled
 * entry; then the logger's VmRSS once ready. Needs `npm run build`.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Readable, Writable } from 'node:stream';

const REPO = resolve(import.meta.dirname, '..');
const runs = Number(process.argv[process.argv.indexOf('--runs') + 1] || 30);

async function once(
  cmd: string,
  args: string[],
  id: string,
  rss = false,
): Promise<[number, number]> {
  const t0 = process.hrtime.bigint();
  const p = spawn(cmd, args, {
    stdio: ['ignore', 'ignore', 'inherit', 'pipe', 'pipe', 'pipe'],
    env: { CONTAINER_ID: id, CONTAINER_NAMESPACE: 'default' },
  });
  const ready = (p.stdio as unknown as Readable[])[5] as Readable;
  await new Promise<void>((res) => {
    ready.once('data', () => res());
    ready.once('end', () => res());
  });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  let kib = 0;
  if (rss) {
    await new Promise((r) => setTimeout(r, 200));
    const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p.pid}/status`, 'utf8'));
    kib = Number(m?.[1] ?? 0);
  }
  const exited = new Promise((res) => p.once('exit', res));
  for (const fd of [3, 4]) ((p.stdio as unknown as Writable[])[fd] as Writable).end();
  await exited;
  return [ms, kib];
}

function stats(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]?.toFixed(1);
  return `median ${at(0.5)} ms, p90 ${at(0.9)} ms`;
}

const dir = await mkdtemp(join(tmpdir(), 'berth-logger-bench-'));
try {
  const ways: [string, string, string[]][] = [
    [
      'bin/berth-logger',
      join(REPO, 'bin/berth-logger'),
      ['--dir', dir, '--node', process.execPath],
    ],
    [
      'node logger-main.js',
      process.execPath,
      [join(REPO, 'dist/cli/logs/logger-main.js'), '--dir', dir],
    ],
    [
      'node <flags> …main.js',
      process.execPath,
      [
        '--max-semi-space-size=1',
        '--no-short-builtin-calls',
        join(REPO, 'dist/cli/logs/logger-main.js'),
        '--dir',
        dir,
      ],
    ],
  ];
  // Rounds alternate the ways, so both see the same machine.
  const times = ways.map(() => [] as number[]);
  const rss = ways.map(() => 0);
  for (let i = 0; i < runs; i++) {
    for (const [w, [, cmd, args]] of ways.entries()) {
      const [ms, kib] = await once(cmd, args, `c${w}-${i}`, i === runs - 1);
      times[w]?.push(ms);
      if (kib) rss[w] = kib;
    }
  }
  for (const [w, [name]] of ways.entries()) {
    const mib = ((rss[w] ?? 0) / 1024).toFixed(1);
    console.log(
      `${name.padEnd(22)} ready after ${stats(times[w] ?? [])} (${runs} runs); VmRSS when ready ${mib} MiB`,
    );
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
