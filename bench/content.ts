/**
 * Content.Write through the gRPC stream, berthd side by side with Debian's
 * containerd in the same run, reported as berthd/containerd ratios:
 *
 * - throughput: one blob of --mib MiB written in 1 MiB chunks and committed,
 *   by berth's TypeScript client and by the real `ctr content ingest`;
 * - ingest-commit latency: --small blobs of 4 KiB, each opened, written and
 *   committed in turn.
 *
 *   node --import tsx bench/content.ts [--mib 512] [--small 1000] [--json]
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Client } from '../src/client/index.js';
import { Berthd } from '../test/helpers/berthd.js';
import { Containerd } from '../test/helpers/containerd.js';
import { tempDir } from '../test/helpers/tmp.js';

const { values } = parseArgs({
  options: {
    mib: { type: 'string', default: '512' },
    small: { type: 'string', default: '1000' },
    json: { type: 'boolean', default: false },
  },
});
const MIB = Number(values.mib);
const SMALL = Number(values.small);
const CHUNK = 1 << 20;

interface Figures {
  clientMiBps: number;
  ctrMiBps: number;
  commitP50us: number;
  commitP99us: number;
}

/** Chunk i of a blob: a random base with the round and index stamped in. */
function chunk(base: Buffer, round: number, i: number): Buffer {
  const b = Buffer.from(base);
  b.writeUInt32BE(round, 0);
  b.writeUInt32BE(i, 4);
  return b;
}

async function clientThroughput(socket: string, base: Buffer, round: number): Promise<number> {
  const client = new Client(socket, { namespace: 'bench' });
  try {
    const ctx = client.context();
    const hash = createHash('sha256');
    const t0 = process.hrtime.bigint();
    const w = await client.content.writer(ctx, { ref: `bench-big-${round}`, total: MIB * CHUNK });
    for (let i = 0; i < MIB; i++) {
      const c = chunk(base, round, i);
      hash.update(c);
      await w.write(c);
    }
    await w.commit(MIB * CHUNK, `sha256:${hash.digest('hex')}`);
    return MIB / (Number(process.hrtime.bigint() - t0) / 1e9);
  } finally {
    client.close();
  }
}

async function ctrThroughput(socket: string, file: string, round: number): Promise<number> {
  const t0 = process.hrtime.bigint();
  await new Promise<void>((resolve, reject) => {
    const p = spawn(
      'ctr',
      ['--address', socket, '--namespace', 'bench', 'content', 'ingest', `bench-ctr-${round}`],
      {
        stdio: [openSync(file, 'r'), 'ignore', 'pipe'],
      },
    );
    let err = '';
    p.stderr?.on('data', (b: Buffer) => (err += b.toString()));
    p.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`ctr content ingest: ${code} ${err}`)),
    );
  });
  return MIB / (Number(process.hrtime.bigint() - t0) / 1e9);
}

async function commitLatency(socket: string, round: number): Promise<number[]> {
  const client = new Client(socket, { namespace: 'bench' });
  try {
    const ctx = client.context();
    const times: number[] = [];
    for (let i = 0; i < SMALL; i++) {
      const data = randomBytes(4096);
      const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
      const t0 = process.hrtime.bigint();
      const w = await client.content.writer(ctx, {
        ref: `bench-small-${round}-${i}`,
        total: data.length,
      });
      await w.write(data);
      await w.commit(data.length, digest);
      times.push(Number(process.hrtime.bigint() - t0) / 1e3);
    }
    return times.sort((a, b) => a - b);
  } finally {
    client.close();
  }
}

async function measure(
  socket: string,
  base: Buffer,
  file: string,
  round: number,
): Promise<Figures> {
  const clientMiBps = await clientThroughput(socket, base, round);
  const ctrMiBps = await ctrThroughput(socket, file, round);
  const lat = await commitLatency(socket, round);
  const at = (q: number) => lat[Math.min(lat.length - 1, Math.floor(q * lat.length))] ?? 0;
  return { clientMiBps, ctrMiBps, commitP50us: at(0.5), commitP99us: at(0.99) };
}

async function writeFile(path: string, base: Buffer, round: number): Promise<void> {
  const out = createWriteStream(path);
  for (let i = 0; i < MIB; i++) {
    if (!out.write(chunk(base, round + 1000, i)))
      await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((r) => out.end(r));
}

function rssKiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
}

async function main(): Promise<void> {
  const work = tempDir('berth-bench-content-');
  const cdir = tempDir('berth-bench-containerd-');
  let berthd: Berthd | undefined;
  let containerd: Containerd | undefined;
  try {
    berthd = await Berthd.start();
    containerd = await Containerd.start(cdir);
    const base = randomBytes(CHUNK);
    const file = join(work.path, 'blob');
    // Different bytes per daemon, so neither answers "already exists".
    await writeFile(file, base, 1);
    const b = await measure(berthd.socket, base, file, 1);
    await writeFile(file, base, 2);
    const c = await measure(containerd.socket, base, file, 2);
    const rss = { berthd: rssKiB(berthd.pid), containerd: rssKiB(containerd.pid) };
    const ratio = {
      clientMiBps: b.clientMiBps / c.clientMiBps,
      ctrMiBps: b.ctrMiBps / c.ctrMiBps,
      commitP50us: b.commitP50us / c.commitP50us,
      commitP99us: b.commitP99us / c.commitP99us,
    };
    if (values.json) {
      process.stdout.write(
        `${JSON.stringify({ mib: MIB, small: SMALL, berthd: b, containerd: c, ratio, rssKiB: rss }, null, 2)}\n`,
      );
      return;
    }
    const f = (n: number) => n.toFixed(0).padStart(10);
    const r = (n: number) => `${n.toFixed(2)}x`.padStart(10);
    console.log(
      `Content.Write: ${MIB} MiB in 1 MiB chunks (TS client, ctr content ingest); ${SMALL} × 4 KiB ingest+commit`,
    );
    console.log('daemon        client MiB/s  ctr MiB/s  commit p50 µs  commit p99 µs');
    console.log(
      `berthd      ${f(b.clientMiBps)} ${f(b.ctrMiBps)} ${f(b.commitP50us)}     ${f(b.commitP99us)}`,
    );
    console.log(
      `containerd  ${f(c.clientMiBps)} ${f(c.ctrMiBps)} ${f(c.commitP50us)}     ${f(c.commitP99us)}`,
    );
    console.log(
      `ratio       ${r(ratio.clientMiBps)} ${r(ratio.ctrMiBps)} ${r(ratio.commitP50us)}     ${r(ratio.commitP99us)}`,
    );
    console.log(`RSS after the run: berthd ${rss.berthd} KiB, containerd ${rss.containerd} KiB`);
    console.log(
      'ratio = berthd / containerd: above 1 is better for MiB/s, below 1 is better for latency',
    );
  } finally {
    await containerd?.stop();
    await berthd?.cleanup();
    cdir.remove();
    work.remove();
  }
}

await main();
