/**
 * The shared pull (src/images `pull`) as berthd runs it, in-process over the
 * local stores (SQLite metadata, local content store, overlayfs snapshotter,
 * walking differ), pulling bench/layers-image.ts's 5-layer image from its OCI
 * layout through a directory resolver, with unpack: each round is
 * images-pull-round.mjs in a plain node (see there why not tsx). Optionally beside
 * containerd 1.6's `ctr images pull --plain-http` of the same image from a
 * docker-registry on 127.0.0.1 (what bench/pull.ts compares berthd with).
 *
 *   node --import tsx bench/images-pull.ts [--rounds 3] [--containerd] [--json]
 *
 * Root (overlayfs). Needs `npm run build`: each round runs the compiled
 * modules under dist/ as berthd does, in a fresh process (fresh stores, a new
 * apply worker); `sync` runs before each timed pull. Peak RSS is that
 * process's.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Containerd } from '../test/helpers/containerd.js';
import { buildImage, pushImage } from '../test/helpers/images.js';
import { Registry } from '../test/helpers/registry.js';
import { type TempDir, tempDir } from '../test/helpers/tmp.js';
import { layersImage } from './layers-image.js';
import { cpuS } from './proc.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    containerd: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    /** Internal: build the image into this directory, print its layout, exit. */
    'build-only': { type: 'string' },
  },
});
const ROUNDS = Number(values.rounds);

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    delete env.CONTAINERD_NAMESPACE;
    delete env.CONTAINERD_ADDRESS;
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let out = '';
    p.stdout.on('data', (b: Buffer) => {
      out += b.toString();
    });
    p.stderr.on('data', (b: Buffer) => {
      out += b.toString();
    });
    p.on('error', reject);
    p.on('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')}: ${code}\n${out}`)),
    );
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

async function main(): Promise<void> {
  const work = tempDir('berth-bench-images-');
  const log = (s: string) => {
    if (!values.json) console.error(s);
  };
  let registry: Registry | undefined;
  let containerd: Containerd | undefined;
  const cdir = tempDir('berth-bench-images-ctd-');
  const rounds: TempDir[] = [];
  try {
    log('building the 5-layer image (in a child process: its buffers stay out of this heap)…');
    const built = JSON.parse(
      (
        await run(process.execPath, [
          '--import',
          'tsx',
          import.meta.filename,
          '--build-only',
          work.path,
        ])
      ).trim(),
    ) as Awaited<ReturnType<typeof buildImage>>;
    const wire = built.layers.reduce((n, l) => n + l.size, 0);
    log(`built: ${built.layers.length} layers, ${(wire / 2 ** 20).toFixed(1)} MiB compressed`);

    let ctr: ((...args: string[]) => Promise<string>) | undefined;
    let pushedRef = '';
    if (values.containerd) {
      registry = await Registry.start(work);
      pushedRef = (await pushImage(registry, built.layout, built.tag, 'bench/layers:1')).ref;
      containerd = await Containerd.start(cdir);
      const socket = containerd.socket;
      ctr = (...args: string[]) =>
        run('ctr', ['--address', socket, '--namespace', 'default', ...args]);
    }

    const dist = join(import.meta.dirname, '..', 'dist');
    if (!existsSync(join(dist, 'images', 'index.js'))) throw new Error('run `npm run build` first');
    const ours: number[] = [];
    const oursCpu: number[] = [];
    const peaks: number[] = [];
    const theirs: number[] = [];
    const theirsCpu: number[] = [];
    const oursOnce = async (i: number) => {
      // A top-level temp dir per round, kept to the end: ext4 places it in a block group of its
      // own, where no inodes were just deleted. Creating files among recently deleted inodes
      // costs ext4 a scan per create (ext4_create → recently_deleted, the top of a kernel
      // profile when each round removed the last one's files first).
      const round = tempDir(`berth-bench-images-round-${i}-`);
      rounds.push(round);
      const dir = round.path;
      await run('sync', []);
      const out = await run(process.execPath, [
        join(import.meta.dirname, 'images-pull-round.mjs'),
        built.layout,
        dir,
      ]);
      const r = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as {
        s: number;
        cpuS: number;
        rssBaseMiB: number;
        rssPeakMiB: number;
      };
      ours.push(r.s);
      oursCpu.push(r.cpuS);
      peaks.push(r.rssPeakMiB);
      log(
        `images.pull + unpack (overlayfs), round ${i + 1}: ${r.s.toFixed(2)} s, CPU ${r.cpuS.toFixed(2)} s, RSS ${r.rssBaseMiB.toFixed(0)} → peak ${r.rssPeakMiB.toFixed(0)} MiB`,
      );
    };
    const theirsOnce = async (i: number) => {
      if (!ctr) return;
      await run('sync', []);
      const pid = containerd!.proc.pid!;
      const cpu0 = cpuS(pid);
      const t0 = performance.now();
      // bash's `times` reports the CPU of ctr (its child) too.
      const out = await run('bash', [
        '-c',
        `ctr --address "$1" --namespace default images pull --plain-http "$2" >/dev/null && times`,
        'bash',
        containerd!.socket,
        pushedRef,
      ]);
      const s = (performance.now() - t0) / 1000;
      const [, child = ''] = out.trim().split('\n');
      const ctrCpu = child
        .split(/\s+/)
        .map((t) => /^(\d+)m([\d.]+)s$/.exec(t))
        .reduce((a, m) => a + (m ? Number(m[1]) * 60 + Number(m[2]) : 0), 0);
      theirs.push(s);
      theirsCpu.push(cpuS(pid) - cpu0 + ctrCpu);
      log(
        `containerd ctr images pull, round ${i + 1}: ${s.toFixed(2)} s, CPU ${theirsCpu.at(-1)?.toFixed(2)} s (containerd + ctr)`,
      );
      await ctr('images', 'rm', '--sync', pushedRef);
    };
    // The order alternates across rounds, so neither side always pays the other's writeback.
    for (let i = 0; i < ROUNDS; i++) {
      if (i % 2 === 0) {
        await oursOnce(i);
        await theirsOnce(i);
      } else {
        await theirsOnce(i);
        await oursOnce(i);
      }
    }
    const result = {
      image: { layers: built.layers.length, compressedBytes: wire },
      pullUnpackS: median(ours),
      /** CPU seconds (user + system, all threads of this process). */
      pullUnpackCpuS: median(oursCpu),
      /** Peak RSS of the pulling process (node, the stores, one apply worker). */
      peakRssMiB: Math.max(...peaks),
      ...(theirs.length > 0 && {
        containerdCtrPullS: median(theirs),
        /** containerd's CPU plus ctr's (the client does the fetching). */
        containerdCtrPullCpuS: median(theirsCpu),
        ratio: median(ours) / median(theirs),
        cpuRatio: median(oursCpu) / median(theirsCpu),
      }),
    };
    console.log(values.json ? JSON.stringify(result) : result);
  } finally {
    for (const r of rounds) r.remove();
    await containerd?.stop();
    await registry?.stop();
    cdir.remove();
    work.remove();
  }
}

if (values['build-only']) {
  console.log(JSON.stringify(await buildImage(values['build-only'], layersImage())));
} else {
  await main();
}
