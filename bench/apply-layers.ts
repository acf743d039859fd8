/**
 * The unpack half of a pull, alone: the 5-layer image's tars (layers-image.ts)
 * written one after the other by `applyTar` (src/diff/layer-writer.ts) on this
 * thread, each into an empty upper directory over the ones before it (as the
 * overlayfs snapshotter lays out a chain: layer 1 into a plain directory,
 * layers 2–5 into an upperdir with lowerdirs, through src/diff/upper.ts), on
 * a fresh journaled ext4 (scratch-fs.ts). No gunzip, no hashing, no worker:
 * only the tar reader, the path policy and the file calls, which is the
 * apply worker's part of a pull.
 *
 *   node --import tsx bench/apply-layers.ts [--rounds 5] [--tars <dir>]
 *   node --cpu-prof --cpu-prof-dir <dir> --import tsx bench/apply-layers.ts
 *   strace -c -f node --import tsx bench/apply-layers.ts --rounds 1
 *   node --cpu-prof … bench/apply-layers.ts --dist   (dist/'s code: profiles with real lines)
 *
 * Prints per layer and round: wall ms, this process's user and system CPU ms,
 * entries; then medians. `--tars <dir>` reuses tars written there by an earlier
 * run (`layer-1.tar` … `layer-5.tar`), else the image is built (umoci) and its
 * tars copied there when given. Needs root (mount).
 */
import { copyFileSync, createReadStream, existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildImage } from '../test/helpers/images.js';
import { tempDir } from '../test/helpers/tmp.js';
import { layersImage } from './layers-image.js';
import { scratchExt4, settle } from './scratch-fs.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    tars: { type: 'string' },
    /** Skip the 6 s settle between rounds (a fresh ext4 does not need it; strace runs). */
    quick: { type: 'boolean', default: false },
    /** Run the compiled dist/ (after `npm run build`): CPU profiles then name lines of the real code. */
    dist: { type: 'boolean', default: false },
  },
});
const ROUNDS = Number(values.rounds);
const { applyTar } = (await import(
  values.dist ? '../dist/diff/layer-writer.js' : '../src/diff/layer-writer.js'
)) as typeof import('../src/diff/layer-writer.js');

interface Row {
  wallMs: number;
  userMs: number;
  sysMs: number;
  entries: number;
}

async function tars(work: string): Promise<string[]> {
  const dir = values.tars;
  const named = (d: string) => [1, 2, 3, 4, 5].map((i) => join(d, `layer-${i}.tar`));
  if (dir !== undefined && named(dir).every((p) => existsSync(p))) return named(dir);
  const img = await buildImage(work, layersImage());
  const paths = img.layers.map((l) => l.tarPath);
  if (dir === undefined) return paths;
  mkdirSync(dir, { recursive: true });
  for (const [i, p] of paths.entries()) copyFileSync(p, named(dir)[i]!);
  return named(dir);
}

async function main(): Promise<void> {
  const work = tempDir('berth-bench-apply-');
  const fs = scratchExt4(work.path);
  try {
    const layers = await tars(work.path);
    const rows: Row[][] = layers.map(() => []);
    for (let r = 0; r < ROUNDS; r++) {
      if (!values.quick) await settle();
      const root = join(fs.path, `r${r}`);
      const uppers: string[] = [];
      for (const [i, tar] of layers.entries()) {
        const upper = join(root, String(i + 1));
        mkdirSync(upper, { recursive: true });
        const lowers = [...uppers].reverse();
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        const stats = await applyTar(
          createReadStream(tar, { highWaterMark: 256 << 10 }),
          upper,
          lowers.length > 0 ? { lowers } : {},
        );
        const wallMs = performance.now() - t0;
        const c = process.cpuUsage(c0);
        rows[i]!.push({
          wallMs,
          userMs: c.user / 1000,
          sysMs: c.system / 1000,
          entries: stats.entries,
        });
        uppers.push(upper);
      }
      const line = rows.map((rs) => {
        const x = rs[rs.length - 1]!;
        return `${x.wallMs.toFixed(0)}/${x.userMs.toFixed(0)}/${x.sysMs.toFixed(0)}`;
      });
      console.error(`round ${r} wall/user/sys ms per layer: ${line.join('  ')}`);
      rmSync(root, { recursive: true, force: true });
    }
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    let tw = 0;
    let tu = 0;
    let ts = 0;
    for (const [i, rs] of rows.entries()) {
      const w = med(rs.map((x) => x.wallMs));
      const u = med(rs.map((x) => x.userMs));
      const s = med(rs.map((x) => x.sysMs));
      tw += w;
      tu += u;
      ts += s;
      const e = rs[0]!.entries;
      console.error(
        `layer ${i + 1}: ${e} entries  wall ${w.toFixed(0)} ms  user ${u.toFixed(0)}  sys ${s.toFixed(0)}  (${((u * 1000) / e).toFixed(1)} µs user/entry)`,
      );
    }
    console.error(
      `all: wall ${tw.toFixed(0)} ms  user ${tu.toFixed(0)}  sys ${ts.toFixed(0)} (medians summed)`,
    );
  } finally {
    fs.unmount();
    work.remove();
  }
}

await main();
