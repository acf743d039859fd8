/**
 * The differ's pass, end to end: blob → digest → decompress → digest → tar
 * entries, and decompression bombs through it with the memory measured.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { compress, decompress } from './compression.js';
import { DigestStream } from './digest-stream.js';
import { MEDIA_TYPES } from './media-types.js';
import { readTar } from './tar/reader.js';
import { encodeHeader, type TarWriteEntry, writeTar } from './tar/writer.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;

async function collect(source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of source) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

async function* chunked(data: Buffer, size = 1 * MiB): AsyncGenerator<Buffer> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function zstdCli(data: Buffer): Buffer {
  const r = spawnSync('zstd', ['-c', '-q'], { input: data, maxBuffer: GiB });
  assert.equal(r.status, 0, String(r.stderr));
  return r.stdout;
}

/** Runs the pass over `blob`, returning the entries' names and body sizes and both digests. */
async function unpack(mediaType: string, blob: AsyncIterable<Uint8Array>) {
  const compressed = new DigestStream(blob);
  const uncompressed = new DigestStream(decompress(mediaType, compressed));
  const entries: [string, number][] = [];
  for await (const { header, body } of readTar(uncompressed)) {
    let n = 0;
    for await (const c of body) n += c.length;
    entries.push([header.name, n]);
  }
  return {
    entries,
    digest: compressed.digest,
    diffID: uncompressed.digest,
    size: uncompressed.size,
  };
}

/** Peak growth of this process's RSS while `fn` runs, sampled every 20 ms. */
async function rssGrowth<T>(fn: () => Promise<T>): Promise<{ result: T; growth: number }> {
  const base = process.memoryUsage().rss;
  let peak = base;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 20);
  try {
    const result = await fn();
    peak = Math.max(peak, process.memoryUsage().rss);
    return { result, growth: peak - base };
  } finally {
    clearInterval(timer);
  }
}

describe('layer pipeline', () => {
  const entries: TarWriteEntry[] = [
    { header: { name: 'etc/', type: 'dir', mode: 0o755 } },
    {
      header: { name: 'etc/hosts', type: 'file', mode: 0o644, size: 300_000 },
      body: Buffer.alloc(300_000, 'h'),
    },
    { header: { name: 'etc/.wh.old', type: 'file', mode: 0o644 } },
    { header: { name: 'bin/sh', type: 'symlink', mode: 0o777, linkname: 'busybox' } },
  ];

  it('computes the blob digest and the diffID in the one pass, trailing padding included', async () => {
    // GNU tar pads archives to 10 KiB records: the diffID covers the padding too.
    const tar = Buffer.concat([await collect(writeTar(entries)), Buffer.alloc(10240)]);
    const gz = await collect(compress('gzip', chunked(tar)));
    const zst = zstdCli(tar);
    for (const [mediaType, blob] of [
      [MEDIA_TYPES.ociLayerGzip, gz],
      [MEDIA_TYPES.dockerLayerGzip, gz],
      [MEDIA_TYPES.ociLayerZstd, zst],
      [MEDIA_TYPES.ociLayer, tar],
    ] as const) {
      const got = await unpack(mediaType, chunked(blob, 4096));
      assert.deepEqual(got.entries, [
        ['etc/', 0],
        ['etc/hosts', 300_000],
        ['etc/.wh.old', 0],
        ['bin/sh', 0],
      ]);
      assert.equal(got.digest, sha256(blob), mediaType);
      assert.equal(got.diffID, sha256(tar), mediaType);
      assert.equal(got.size, tar.length);
    }
  });

  it('streams a gzip bomb of 2 GiB of zeros in bounded memory', async (t) => {
    const zeros = gzipSync(Buffer.alloc(64 * MiB), { level: 9 }); // 64 KiB
    const total = 2 * GiB;
    async function* bomb() {
      yield gzipSync(encodeHeader({ name: 'zeros', type: 'file', mode: 0o644, size: total }));
      for (let i = 0; i < total / (64 * MiB); i++) yield zeros; // gzip members, concatenated
      yield gzipSync(Buffer.alloc(1024));
    }
    const start = performance.now();
    const { result, growth } = await rssGrowth(() => unpack(MEDIA_TYPES.ociLayerGzip, bomb()));
    t.diagnostic(
      `2 GiB in ${((performance.now() - start) / 1000).toFixed(1)} s, RSS +${(growth / MiB).toFixed(0)} MiB`,
    );
    assert.deepEqual(result.entries, [['zeros', total]]);
    assert.equal(result.size, total + 512 + 1024);
    // A decoder that buffered would need > 2 GiB; ours stays within chunk-sized buffers.
    assert.ok(growth < 160 * MiB, `RSS grew by ${(growth / MiB).toFixed(0)} MiB`);
  });

  it('streams a zstd bomb through zstd -dc in bounded memory', async (t) => {
    const zeros = zstdCli(Buffer.alloc(64 * MiB)); // a few KiB
    const total = 1 * GiB;
    async function* bomb() {
      yield zstdCli(encodeHeader({ name: 'zeros', type: 'file', mode: 0o644, size: total }));
      for (let i = 0; i < total / (64 * MiB); i++) yield zeros; // zstd frames, concatenated
      yield zstdCli(Buffer.alloc(1024));
    }
    const { result, growth } = await rssGrowth(() => unpack(MEDIA_TYPES.ociLayerZstd, bomb()));
    t.diagnostic(`zstd: 1 GiB, RSS +${(growth / MiB).toFixed(0)} MiB`);
    assert.deepEqual(result.entries, [['zeros', total]]);
    assert.ok(growth < 160 * MiB, `RSS grew by ${(growth / MiB).toFixed(0)} MiB`);
  });
});
