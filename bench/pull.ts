/**
 * `ctr images pull` end to end, berthd side by side with Debian's containerd
 * in the same run, from a real docker-registry on 127.0.0.1 that the bench
 * starts, reported as berthd/containerd ratios.
 *
 *   node --import tsx bench/pull.ts [--images busybox,layers,big] [--tree /usr/share/gocode]
 *                                  [--rounds 2] [--json]
 *
 * Three images, built offline and pushed with skopeo (test/helpers/images.ts):
 * - busybox: one small layer (busybox-static and its applet links);
 * - layers: five gzip layers generated deterministically (layers-image.ts):
 *   about 90 MiB of tar in about 10,000 small files and a few large ones,
 *   with a whiteout and an opaque directory, where per-layer and per-file
 *   fixed costs show;
 * - big: one gzip layer made by GNU tar from --tree (a real tree of many
 *   files; /usr/share/gocode is about 390 MB in 17,000 entries).
 *
 * For each image, round and daemon (the order alternates across rounds):
 * 1. `ctr images pull --plain-http` timed whole (fetch + unpack);
 * 2. `ctr images rm --sync`, then the snapshots and the content are checked
 *    to be gone;
 * 3. `ctr content fetch` (timed: the fetch part), then `ctr images pull`
 *    again, which finds every blob present and only resolves and unpacks:
 *    that is the unpack figure (ctr 1.6 has no `images unpack`); the layer
 *    blobs are checked to be the same files (inode, mtime) afterwards;
 * 4. `ctr images rm --sync` again, checked the same way.
 *
 * `sync` runs before each timed step. Peak RSS of each daemon during each
 * timed command: VmHWM after resetting it through /proc/<pid>/clear_refs
 * (5), and VmRSS polled every 10 ms as a floor in case the reset is
 * refused; the larger is reported. CPU: the daemon's utime + stime.
 * --cpu-prof <dir> writes berthd's main-thread CPU profile there. Both daemons
 * use the overlayfs snapshotter (their default). Figures are medians over
 * the rounds; MiB/s counts the uncompressed layer bytes.
 */
import { spawn } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { Berthd } from '../test/helpers/berthd.js';
import { Containerd } from '../test/helpers/containerd.js';
import { buildAndPush, busyboxImage, DEFAULT_EPOCH } from '../test/helpers/images.js';
import { Registry } from '../test/helpers/registry.js';
import { type TempDir, tempDir } from '../test/helpers/tmp.js';
import { layersImage } from './layers-image.js';
import { cpuS, resetPeak, statusKiB } from './proc.js';

const { values } = parseArgs({
  options: {
    images: { type: 'string', default: 'busybox,layers,big' },
    tree: { type: 'string', default: '/usr/share/gocode' },
    rounds: { type: 'string', default: '2' },
    /** Start berthd with `node --cpu-prof --cpu-prof-dir <dir>` (profiles written when it stops). */
    'cpu-prof': { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const TREE = values.tree;
const IMAGES = values.images.split(',').filter((i) => i !== '');
for (const i of IMAGES) {
  if (!['busybox', 'layers', 'big'].includes(i)) throw new Error(`--images: unknown image ${i}`);
}
const ROUNDS = Number(values.rounds);
const MiB = 1 << 20;

interface Daemon {
  name: 'berthd' | 'containerd';
  socket: string;
  pid: number;
  /** `<root>/io.containerd.content.v1.content/blobs` (the same layout on both). */
  blobs: string;
}

interface Round {
  pullS: number;
  fetchS: number;
  unpackS: number;
  pullPeakKiB: number;
  unpackPeakKiB: number;
  /** Peak RssAnon, polled every 10 ms. */
  pullPeakAnonKiB: number;
  unpackPeakAnonKiB: number;
  /** Daemon CPU (user + system, all threads) during the timed step. */
  pullCpuS: number;
  unpackCpuS: number;
}

interface Image {
  name: string;
  ref: string;
  /** Uncompressed layer bytes (the tars' sizes). */
  bytes: number;
  /** Compressed layer bytes (what crosses the wire). */
  wireBytes: number;
  files: number;
  /** Layer digests, `sha256:<hex>`. */
  layers: string[];
}

// ---------------------------------------------------------------------------
// Processes

function run(
  cmd: string,
  args: string[],
  timeoutMs = 900_000,
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    delete env.CONTAINERD_NAMESPACE;
    delete env.CONTAINERD_ADDRESS;
    delete env.CONTAINERD_SNAPSHOTTER;
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (b: Buffer) => {
      if (stdout.length < MiB) stdout += b.toString();
    });
    p.stderr.on('data', (b: Buffer) => {
      if (stderr.length < MiB) stderr += b.toString();
    });
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('error', reject);
    p.on('close', (code, signal) => {
      clearTimeout(t);
      if (code === 0) resolve({ stdout, stderr });
      else reject(new Error(`${cmd} ${args.join(' ')}: ${code ?? signal}\n${stdout}${stderr}`));
    });
  });
}

function ctr(d: Daemon, args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run('ctr', ['--address', d.socket, '--namespace', 'default', ...args]);
}

/** Runs `fn` while watching `pid`: wall seconds, peak VmRSS and RssAnon (KiB), daemon CPU seconds. */
async function timed(
  pid: number,
  fn: () => Promise<unknown>,
): Promise<{ s: number; peakKiB: number; peakAnonKiB: number; cpuS: number }> {
  // Dirty pages of the previous step (the last unpack, the files rm --sync
  // deleted) are written back first, so neither daemon pays for the other.
  await run('sync', []);
  resetPeak(pid); // when refused (not root), the polled VmRSS stands alone
  let polled = statusKiB(pid, 'VmRSS');
  let anon = statusKiB(pid, 'RssAnon');
  const poll = setInterval(() => {
    polled = Math.max(polled, statusKiB(pid, 'VmRSS'));
    anon = Math.max(anon, statusKiB(pid, 'RssAnon'));
  }, 10);
  const cpu0 = cpuS(pid);
  const t0 = process.hrtime.bigint();
  try {
    await fn();
  } finally {
    clearInterval(poll);
  }
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  return {
    s,
    peakKiB: Math.max(polled, statusKiB(pid, 'VmHWM')),
    peakAnonKiB: anon,
    cpuS: cpuS(pid) - cpu0,
  };
}

/** Rows of a ctr table, header dropped. */
function rows(out: string): string[] {
  return out
    .trim()
    .split('\n')
    .slice(1)
    .filter((l) => l.trim() !== '');
}

/** `ctr images rm --sync`, then checks that no image, snapshot or blob is left. */
async function removeImage(d: Daemon, ref: string): Promise<void> {
  await ctr(d, ['images', 'rm', '--sync', ref]);
  const images = rows((await ctr(d, ['images', 'ls'])).stdout);
  const snaps = rows((await ctr(d, ['snapshots', '--snapshotter', 'overlayfs', 'ls'])).stdout);
  const blobs = rows((await ctr(d, ['content', 'ls'])).stdout);
  if (images.length + snaps.length + blobs.length > 0) {
    throw new Error(
      `${d.name}: after images rm --sync ${ref}: ${images.length} images, ${snaps.length} snapshots, ${blobs.length} blobs left:\n${[...images, ...snaps, ...blobs].join('\n')}`,
    );
  }
}

async function round(d: Daemon, img: Image): Promise<Round> {
  const pull = await timed(d.pid, () => ctr(d, ['images', 'pull', '--plain-http', img.ref]));
  await removeImage(d, img.ref);
  const fetch = await timed(d.pid, () => ctr(d, ['content', 'fetch', '--plain-http', img.ref]));
  const blob = (digest: string) => {
    const st = statSync(join(d.blobs, ...digest.split(':')), { bigint: true });
    return `${st.ino}/${st.mtimeNs}`;
  };
  const before = img.layers.map(blob);
  const unpack = await timed(d.pid, () => ctr(d, ['images', 'pull', '--plain-http', img.ref]));
  // The layer blobs fetched before are the very files still there: the
  // second pull wrote no content, it only resolved and unpacked.
  if (img.layers.map(blob).join() !== before.join()) {
    throw new Error(`${d.name}: the unpack pull rewrote a layer blob of ${img.ref}`);
  }
  await removeImage(d, img.ref);
  return {
    pullS: pull.s,
    fetchS: fetch.s,
    unpackS: unpack.s,
    pullPeakKiB: pull.peakKiB,
    unpackPeakKiB: unpack.peakKiB,
    pullPeakAnonKiB: pull.peakAnonKiB,
    unpackPeakAnonKiB: unpack.peakAnonKiB,
    pullCpuS: pull.cpuS,
    unpackCpuS: unpack.cpuS,
  };
}

// ---------------------------------------------------------------------------
// Images

/** GNU tar of `tree` (as `<basename>/…`), sorted, fixed mtime, numeric owners. */
async function treeTar(work: string, tree: string): Promise<{ path: string; files: number }> {
  const path = join(work, 'tree.tar');
  await run('tar', [
    '--create',
    '--file',
    path,
    '--directory',
    dirname(tree),
    '--format=gnu',
    '--sort=name',
    `--mtime=@${DEFAULT_EPOCH}`,
    '--numeric-owner',
    basename(tree),
  ]);
  const list = await run('tar', ['--list', '--file', path]);
  return { path, files: rows(`header\n${list.stdout}`).length };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return 0;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function summary(rs: Round[]): Round {
  return {
    pullS: median(rs.map((r) => r.pullS)),
    fetchS: median(rs.map((r) => r.fetchS)),
    unpackS: median(rs.map((r) => r.unpackS)),
    pullPeakKiB: Math.max(...rs.map((r) => r.pullPeakKiB)),
    unpackPeakKiB: Math.max(...rs.map((r) => r.unpackPeakKiB)),
    pullPeakAnonKiB: Math.max(...rs.map((r) => r.pullPeakAnonKiB)),
    unpackPeakAnonKiB: Math.max(...rs.map((r) => r.unpackPeakAnonKiB)),
    pullCpuS: median(rs.map((r) => r.pullCpuS)),
    unpackCpuS: median(rs.map((r) => r.unpackCpuS)),
  };
}

function blobsDir(root: string): string {
  return join(root, 'io.containerd.content.v1.content', 'blobs');
}

/** Mount points under any of `dirs`, from /proc/self/mountinfo. */
function mountsUnder(dirs: string[]): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .map((p) =>
      p.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8))),
    )
    .filter((p) => dirs.some((d) => p === d || p.startsWith(`${d}/`)));
}

async function main(): Promise<void> {
  const work = tempDir('berth-bench-pull-');
  const cdir = tempDir('berth-bench-containerd-');
  let registry: Registry | undefined;
  let berthd: Berthd | undefined;
  let containerd: Containerd | undefined;
  const dirs: TempDir[] = [work, cdir];
  let leftovers: string[] = [];
  try {
    registry = await Registry.start(work);
    const log = (s: string) => {
      if (!values.json) console.error(s);
    };

    const t0 = performance.now();
    /** Describes a pushed image from its built layers' tars. */
    const describe = async (
      name: string,
      pushed: Awaited<ReturnType<typeof buildAndPush>>,
    ): Promise<Image> => {
      let files = 0;
      for (const l of pushed.layers) {
        files += rows(
          `header\n${(await run('tar', ['--list', '--file', l.tarPath])).stdout}`,
        ).length;
      }
      return {
        name,
        ref: pushed.pushed.ref,
        bytes: pushed.layers.reduce((a, l) => a + statSync(l.tarPath).size, 0),
        wireBytes: pushed.layers.reduce((a, l) => a + l.size, 0),
        files,
        layers: pushed.layers.map((l) => l.digest),
      };
    };
    const images: Image[] = [];
    for (const name of IMAGES) {
      if (name === 'busybox') {
        images.push(
          await describe(
            name,
            await buildAndPush(work, registry, busyboxImage(), 'bench/busybox:1'),
          ),
        );
      } else if (name === 'layers') {
        images.push(
          await describe(name, await buildAndPush(work, registry, layersImage(), 'bench/layers:1')),
        );
      } else {
        const tar = await treeTar(work.path, TREE);
        const big = await buildAndPush(
          work,
          registry,
          { layers: [{ tar: tar.path }] },
          'bench/big:1',
        );
        images.push({ ...(await describe(name, big)), files: tar.files });
      }
    }
    log(
      `images built and pushed in ${((performance.now() - t0) / 1000).toFixed(0)} s: ${images
        .map(
          (i) =>
            `${i.name} ${(i.bytes / MiB).toFixed(1)} MiB tar (${(i.wireBytes / MiB).toFixed(1)} MiB gzip, ${i.files} entries)`,
        )
        .join('; ')}`,
    );

    const nodeOptions = process.env.NODE_OPTIONS;
    if (values['cpu-prof'] !== undefined) {
      // Node refuses --cpu-prof in NODE_OPTIONS; a preloaded module runs the
      // same profiler through node:inspector (its in-thread session answers
      // synchronously, so the profile can be written on exit).
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
process.on('exit', () => s.post('Profiler.stop', (err, r) => {
  if (!err) writeFileSync(${JSON.stringify(values['cpu-prof'])} + '/berthd-' + process.pid + '-' + threadId + '.cpuprofile', JSON.stringify(r.profile));
}));
`,
      );
      process.env.NODE_OPTIONS = `${nodeOptions ?? ''} --import ${pre}`;
    }
    try {
      berthd = await Berthd.start();
    } finally {
      if (nodeOptions === undefined) delete process.env.NODE_OPTIONS;
      else process.env.NODE_OPTIONS = nodeOptions;
    }
    dirs.push(berthd.dir);
    containerd = await Containerd.start(cdir);
    const daemons: Daemon[] = [
      { name: 'berthd', socket: berthd.socket, pid: berthd.pid, blobs: blobsDir(berthd.root) },
      {
        name: 'containerd',
        socket: containerd.socket,
        pid: containerd.pid,
        blobs: blobsDir(join(cdir.path, 'root')),
      },
    ];

    const results: {
      image: Image;
      berthd: Round;
      containerd: Round;
      rounds: { daemon: string; round: number; figures: Round }[];
    }[] = [];
    for (const img of images) {
      const per: Record<Daemon['name'], Round[]> = { berthd: [], containerd: [] };
      const all: { daemon: string; round: number; figures: Round }[] = [];
      for (let r = 0; r < ROUNDS; r++) {
        const order = r % 2 === 0 ? daemons : [...daemons].reverse();
        for (const d of order) {
          const f = await round(d, img);
          per[d.name].push(f);
          all.push({ daemon: d.name, round: r, figures: f });
          log(
            `${img.name} round ${r} ${d.name}: pull ${f.pullS.toFixed(2)} s, fetch ${f.fetchS.toFixed(2)} s, unpack ${f.unpackS.toFixed(2)} s`,
          );
        }
      }
      results.push({
        image: img,
        berthd: summary(per.berthd),
        containerd: summary(per.containerd),
        rounds: all,
      });
    }
    const rss = {
      berthd: statusKiB(berthd.pid, 'VmRSS'),
      containerd: statusKiB(containerd.pid, 'VmRSS'),
    };
    leftovers = mountsUnder(dirs.map((d) => d.path));

    if (values.json) {
      process.stdout.write(
        `${JSON.stringify(
          {
            tree: TREE,
            rounds: ROUNDS,
            results: results.map((r) => ({
              ...r,
              ratio: {
                pullS: r.berthd.pullS / r.containerd.pullS,
                fetchS: r.berthd.fetchS / r.containerd.fetchS,
                unpackS: r.berthd.unpackS / r.containerd.unpackS,
                pullPeakKiB: r.berthd.pullPeakKiB / r.containerd.pullPeakKiB,
                unpackPeakKiB: r.berthd.unpackPeakKiB / r.containerd.unpackPeakKiB,
                pullPeakAnonKiB: r.berthd.pullPeakAnonKiB / r.containerd.pullPeakAnonKiB,
                unpackPeakAnonKiB: r.berthd.unpackPeakAnonKiB / r.containerd.unpackPeakAnonKiB,
                pullCpuS: r.berthd.pullCpuS / r.containerd.pullCpuS,
                unpackCpuS: r.berthd.unpackCpuS / r.containerd.unpackCpuS,
              },
            })),
            rssAfterKiB: rss,
            leftoverMounts: leftovers,
          },
          null,
          2,
        )}\n`,
      );
      return;
    }
    const n = (x: number, d = 2) => x.toFixed(d).padStart(8);
    const r = (x: number) => `${x.toFixed(2)}x`.padStart(8);
    const mib = (kib: number) => (kib / 1024).toFixed(0).padStart(8);
    console.log(
      `ctr images pull --plain-http from a local docker-registry, overlayfs, median of ${ROUNDS} alternating rounds`,
    );
    console.log(
      'seconds wall clock; MiB/s of uncompressed layer data; peak VmRSS and RssAnon of the daemon in MiB; daemon CPU s (user+sys)',
    );
    console.log(
      'image    daemon        pull s   MiB/s  fetch s unpack s   MiB/s  RSS pull RSS unpk anon pull anon unpk  CPU pull CPU unpk',
    );
    for (const res of results) {
      const { image: img, berthd: b, containerd: c } = res;
      const m = img.bytes / MiB;
      for (const [who, v] of [
        ['berthd', b],
        ['containerd', c],
      ] as const) {
        console.log(
          `${img.name.padEnd(8)} ${who.padEnd(10)} ${n(v.pullS)} ${n(m / v.pullS, 0)} ${n(v.fetchS)} ${n(v.unpackS)} ${n(m / v.unpackS, 0)} ${mib(v.pullPeakKiB)} ${mib(v.unpackPeakKiB)} ${mib(v.pullPeakAnonKiB)} ${mib(v.unpackPeakAnonKiB)} ${n(v.pullCpuS, 1)} ${n(v.unpackCpuS, 1)}`,
        );
      }
      console.log(
        `${img.name.padEnd(8)} ${'ratio'.padEnd(10)} ${r(b.pullS / c.pullS)} ${''.padStart(8)} ${r(b.fetchS / c.fetchS)} ${r(b.unpackS / c.unpackS)} ${''.padStart(8)} ${r(b.pullPeakKiB / c.pullPeakKiB)} ${r(b.unpackPeakKiB / c.unpackPeakKiB)} ${r(b.pullPeakAnonKiB / c.pullPeakAnonKiB)} ${r(b.unpackPeakAnonKiB / c.unpackPeakAnonKiB)} ${r(b.pullCpuS / c.pullCpuS)} ${r(b.unpackCpuS / c.unpackCpuS)}`,
      );
    }
    for (const img of images) {
      console.log(
        `${img.name}: ${(img.bytes / MiB).toFixed(1)} MiB uncompressed, ${(img.wireBytes / MiB).toFixed(1)} MiB gzip, ${img.files} tar entries in ${img.layers.length} layer${img.layers.length === 1 ? '' : 's'}${img.name === 'big' ? ` (${TREE})` : ''}`,
      );
    }
    console.log(`RSS after the run: berthd ${rss.berthd} KiB, containerd ${rss.containerd} KiB`);
    console.log(
      `mounts left under the temp dirs: ${leftovers.length === 0 ? 'none' : leftovers.join(', ')}`,
    );
    console.log('ratio = berthd / containerd: below 1 is better for seconds and RSS');
  } finally {
    await containerd?.stop();
    await berthd?.stop();
    await registry?.stop();
    const after = mountsUnder(dirs.map((d) => d.path));
    if (after.length > 0) {
      // Never delete through a mount: leave the directories and say so.
      console.error(`mounts left under the bench's temp dirs, not removed:\n${after.join('\n')}`);
      process.exitCode = 1;
    } else {
      await berthd?.cleanup();
      cdir.remove();
      work.remove();
    }
  }
}

await main();
