/**
 * The bench's multi-layer image, generated deterministically (no network,
 * nothing read from the host): five gzip layers, about 90 MiB of tar in
 * about 10,000 small files plus a few large ones, with a whiteout and an
 * opaque directory, so that per-layer and per-file fixed costs show.
 *
 * - small files: text of words drawn by a seeded PRNG, 256 B to 8 KiB
 *   (about 4 KiB on average; gzip takes them to about a quarter);
 * - large files: PRNG bytes (incompressible, like binaries);
 * - layer 4 whites out a file of layer 1 and makes a directory of layer 2
 *   opaque (with new files in it).
 */
import { DEFAULT_PATH, type Entry, type ImageSpec } from '../test/helpers/images.js';

const MiB = 1 << 20;

/** xorshift32: the same sequence on every run and machine. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

const WORDS =
  'layer snapshot content blob digest manifest index config namespace lease container task shim runtime mount overlay upper lower work diff apply commit prepare view remove walk usage label annotation platform'.split(
    ' ',
  );

function text(next: () => number, size: number): Uint8Array {
  const parts: string[] = [];
  let n = 0;
  while (n < size) {
    const w = WORDS[next() % WORDS.length]!;
    const sep = next() % 12 === 0 ? '\n' : ' ';
    parts.push(w, sep);
    n += w.length + 1;
  }
  return new TextEncoder().encode(parts.join('').slice(0, size));
}

function random(next: () => number, size: number): Uint8Array {
  const words = new Uint32Array(Math.ceil(size / 4));
  for (let i = 0; i < words.length; i++) words[i] = next();
  return new Uint8Array(words.buffer, 0, size);
}

/** `count` small files under `<dir>/dNN/fNNNN.txt`, 100 per directory. */
function smallFiles(next: () => number, dir: string, count: number): Entry[] {
  const out: Entry[] = [];
  for (let i = 0; i < count; i++) {
    const d = String(Math.floor(i / 100)).padStart(2, '0');
    const f = String(i).padStart(4, '0');
    const size = 256 + (next() % (8 * 1024 - 256));
    out.push({ type: 'file', path: `${dir}/d${d}/f${f}.txt`, content: text(next, size) });
  }
  return out;
}

function bigFile(next: () => number, path: string, mib: number): Entry {
  return { type: 'file', path, content: random(next, mib * MiB), mode: 0o755 };
}

/** File counts and large files per layer: 9,990 small files and 50 MiB of large ones. */
export function layersImage(): ImageSpec {
  const next = prng(0x6265_7274);
  const base = 'usr/share/bench';
  return {
    layers: [
      {
        createdBy: 'layer 1: 4,000 small files, 2 × 8 MiB',
        entries: [
          ...smallFiles(next, `${base}/l1`, 4000),
          bigFile(next, 'usr/bin/one', 8),
          bigFile(next, 'usr/bin/two', 8),
        ],
      },
      {
        createdBy: 'layer 2: 3,000 small files, 12 MiB',
        entries: [...smallFiles(next, `${base}/l2`, 3000), bigFile(next, 'usr/lib/three.so', 12)],
      },
      {
        createdBy: 'layer 3: 2,000 small files, 12 MiB',
        entries: [...smallFiles(next, `${base}/l3`, 2000), bigFile(next, 'usr/lib/four.so', 12)],
      },
      {
        createdBy: 'layer 4: a whiteout, an opaque directory, 980 small files',
        entries: [
          { type: 'whiteout', path: `${base}/l1/d00/f0000.txt` },
          { type: 'opaque', path: `${base}/l2/d00` },
          ...smallFiles(next, `${base}/l2/d00/new`, 10),
          ...smallFiles(next, `${base}/l4`, 970),
        ],
      },
      {
        createdBy: 'layer 5: 10 small files, 10 MiB',
        entries: [...smallFiles(next, `${base}/l5`, 10), bigFile(next, 'usr/bin/five', 10)],
      },
    ],
    config: { cmd: ['/usr/bin/five'], env: [DEFAULT_PATH] },
  };
}
