import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { isInvalidArgument, isNotImplemented, kindOf } from '../core/errdefs/index.js';
import { CHUNK_SIZE, compress, decompress, decompressStream } from './compression.js';
import { detectCompression, layerCompression, MEDIA_TYPES } from './media-types.js';

async function collect(source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of source) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

async function* chunked(data: Buffer, size = 64 * 1024): AsyncGenerator<Buffer> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

function zstdCli(data: Buffer, ...args: string[]): Buffer {
  const r = spawnSync('zstd', ['-c', '-q', ...args], { input: data, maxBuffer: 1 << 30 });
  assert.equal(r.status, 0, String(r.stderr));
  return r.stdout;
}

/** zstd processes whose parent is this process, with their state (Z: a zombie). */
function zstdChildren(): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const m = /^\d+ \((.*)\) (\S) (\d+)/.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'));
      if (m && m[1] === 'zstd' && Number(m[3]) === process.pid) found.push(`${pid} ${m[2]}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

// Incompressible enough that compressed streams span several chunks.
const DATA = Buffer.concat(
  Array.from({ length: 64 }, (_, i) => Buffer.from(`${i}:${'abcdefghij'.repeat(i * 9)}\n`)),
);

describe('layer media types', () => {
  it('maps every layer media type as containerd 1.6 does', () => {
    const table: ReadonlyArray<[string, string, boolean]> = [
      [MEDIA_TYPES.ociLayer, 'none', false],
      [MEDIA_TYPES.ociLayerGzip, 'gzip', true],
      [MEDIA_TYPES.ociLayerZstd, 'zstd', true],
      [MEDIA_TYPES.ociLayerNonDistributable, 'none', false],
      [MEDIA_TYPES.ociLayerNonDistributableGzip, 'gzip', true],
      [MEDIA_TYPES.ociLayerNonDistributableZstd, 'zstd', true],
      [MEDIA_TYPES.dockerLayer, 'none', true],
      [MEDIA_TYPES.dockerLayerGzip, 'gzip', true],
      [MEDIA_TYPES.dockerLayerForeign, 'none', true],
      [MEDIA_TYPES.dockerLayerForeignGzip, 'gzip', true],
    ];
    for (const [mediaType, declared, sniff] of table) {
      assert.deepEqual(layerCompression(mediaType), { declared, sniff }, mediaType);
    }
  });

  it('refuses encrypted, unknown and oddly wrapped media types, naming them', () => {
    const table: ReadonlyArray<[string, (err: unknown) => boolean, RegExp]> = [
      [`${MEDIA_TYPES.ociLayer}+encrypted`, isNotImplemented, /encrypted layers are not supported/],
      [`${MEDIA_TYPES.ociLayerGzip}+encrypted`, isNotImplemented, /encrypted/],
      [`${MEDIA_TYPES.ociLayerZstd}+encrypted`, isNotImplemented, /encrypted/],
      [`${MEDIA_TYPES.ociLayer}+lz4`, isNotImplemented, /unsupported compression or wrapping/],
      [`${MEDIA_TYPES.ociLayer}+gzip+zstd`, isNotImplemented, /unsupported compression/],
      [`${MEDIA_TYPES.dockerLayerGzip}+zstd`, isNotImplemented, /unsupported compression/],
      [
        'application/vnd.oci.image.manifest.v1+json',
        isNotImplemented,
        /unrecognised layer media type/,
      ],
      ['application/octet-stream', isNotImplemented, /unrecognised/],
      ['', isInvalidArgument, /empty/],
    ];
    for (const [mediaType, is, re] of table) {
      assert.throws(
        () => layerCompression(mediaType),
        (err: Error) => is(err) && re.test(err.message),
        mediaType,
      );
      if (mediaType) {
        // decompress refuses at once, before reading anything.
        assert.throws(
          () => decompress(mediaType, chunked(DATA)),
          (err: Error) => is(err) && err.message.includes(`"${mediaType}"`),
        );
      }
    }
  });

  it('detects compression from magic bytes, zstd skippable frames included', () => {
    assert.equal(detectCompression(gzipSync(DATA)), 'gzip');
    assert.equal(detectCompression(zstdCli(DATA)), 'zstd');
    assert.equal(detectCompression(Buffer.from([0x5a, 0x2a, 0x4d, 0x18, 0, 0, 0, 0])), 'zstd');
    assert.equal(detectCompression(Buffer.from([0x5a, 0x2a, 0x4d, 0x18])), 'none'); // too short to tell
    assert.equal(detectCompression(Buffer.from([0x1f, 0x8b, 0x07])), 'none');
    assert.equal(detectCompression(Buffer.alloc(0)), 'none');
    assert.equal(detectCompression(DATA), 'none');
  });
});

describe('decompress', () => {
  it('gunzips the gzip layer types, in chunks of at most 256 KiB', async () => {
    const big = Buffer.concat(Array.from({ length: 40 }, () => DATA));
    const gz = gzipSync(big);
    for (const mt of [
      MEDIA_TYPES.ociLayerGzip,
      MEDIA_TYPES.dockerLayerGzip,
      MEDIA_TYPES.ociLayerNonDistributableGzip,
    ]) {
      let largest = 0;
      const parts: Buffer[] = [];
      for await (const c of decompress(mt, chunked(gz, 1000))) {
        largest = Math.max(largest, c.length);
        parts.push(c);
      }
      assert.deepEqual(Buffer.concat(parts), big, mt);
      assert.equal(largest, CHUNK_SIZE);
    }
  });

  it('follows the bytes where containerd sniffs, and passes plain OCI tar through untouched', async () => {
    const gz = gzipSync(DATA);
    assert.deepEqual(await collect(decompress(MEDIA_TYPES.dockerLayer, chunked(gz))), DATA);
    assert.deepEqual(await collect(decompress(MEDIA_TYPES.dockerLayerGzip, chunked(DATA))), DATA);
    assert.deepEqual(await collect(decompress(MEDIA_TYPES.ociLayerGzip, chunked(DATA))), DATA);
    assert.deepEqual(
      await collect(decompress(MEDIA_TYPES.ociLayerGzip, chunked(zstdCli(DATA)))),
      DATA,
    );
    assert.deepEqual(await collect(decompress(MEDIA_TYPES.ociLayer, chunked(gz))), gz); // no sniffing
    // Sniffing copes with a first chunk shorter than the magic, and with empty layers.
    assert.deepEqual(await collect(decompress(MEDIA_TYPES.ociLayerGzip, chunked(gz, 1))), DATA);
    assert.deepEqual(
      await collect(decompress(MEDIA_TYPES.dockerLayerGzip, chunked(Buffer.alloc(0)))),
      Buffer.alloc(0),
    );
  });

  it('reports corrupt and truncated gzip as invalid_argument', async () => {
    const gz = gzipSync(DATA);
    const corrupt = Buffer.from(gz);
    corrupt.fill(0x55, 20, 60);
    for (const [doc, data, re] of [
      ['corrupt', corrupt, /^gzip: /],
      ['truncated', gz.subarray(0, gz.length - 9), /^gzip: unexpected end of file/],
      [
        'trailing garbage',
        Buffer.concat([gz, Buffer.from('garbage')]),
        /^gzip: incorrect header check/,
      ],
    ] as const) {
      await assert.rejects(
        collect(decompress(MEDIA_TYPES.ociLayerGzip, chunked(data, 100))),
        (err: Error) => isInvalidArgument(err) && re.test(err.message),
        doc,
      );
    }
  });

  it("passes the source's own errors through unchanged", async () => {
    const boom = new Error('content store read failed');
    for (const [mt, data] of [
      [MEDIA_TYPES.ociLayerGzip, gzipSync(DATA)],
      [MEDIA_TYPES.ociLayerZstd, zstdCli(DATA)],
      [MEDIA_TYPES.ociLayer, DATA],
    ] as const) {
      async function* failing() {
        yield data.subarray(0, 100);
        throw boom;
      }
      await assert.rejects(collect(decompress(mt, failing())), (err) => err === boom, mt);
    }
    assert.deepEqual(zstdChildren(), []);
  });

  for (const impl of ['auto', 'spawn'] as const) {
    it(`round-trips zstd (${impl}), multi-frame and with a skippable frame`, async () => {
      const big = Buffer.concat(Array.from({ length: 40 }, () => DATA));
      const skippable = Buffer.from([0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 1, 2, 3, 4]);
      const z = Buffer.concat([skippable, zstdCli(big), zstdCli(DATA, '-19')]);
      const out = await collect(
        decompress(MEDIA_TYPES.ociLayerZstd, chunked(z, 5000), { zstd: impl }),
      );
      assert.deepEqual(out, Buffer.concat([big, DATA]));
      assert.deepEqual(zstdChildren(), []);
    });
  }

  it("reports bad zstd data as invalid_argument with zstd's own message", async () => {
    const z = zstdCli(DATA);
    const bad = Buffer.from(z);
    bad.fill(0xaa, 6, 40);
    for (const [doc, data] of [
      ['corrupt', bad],
      ['truncated', z.subarray(0, z.length - 10)],
    ] as const) {
      await assert.rejects(
        collect(decompressStream('zstd', chunked(data, 1000), { zstd: 'spawn' })),
        (err: Error) =>
          isInvalidArgument(err) &&
          /^zstd: .*\S/.test(err.message) &&
          !/exit status/.test(err.message),
        doc,
      );
    }
    await assert.rejects(
      collect(decompressStream('zstd', chunked(DATA), { zstd: 'spawn' })),
      /unsupported format|unknown header/i,
    );
    assert.deepEqual(zstdChildren(), []);
  });

  it('leaves no zstd process behind when the consumer stops or the caller aborts', async () => {
    const big = Buffer.concat(Array.from({ length: 100 }, () => DATA));
    const z = zstdCli(big);
    // The consumer stops after one chunk.
    for await (const _ of decompressStream('zstd', chunked(z, 1000), { zstd: 'spawn' })) break;
    assert.deepEqual(zstdChildren(), []);

    // The caller aborts while zstd waits for input that never comes (it reads
    // stdin in 128 KiB blocks, so it may not have produced anything yet).
    const ac = new AbortController();
    async function* endless() {
      yield z.subarray(0, 1000);
      await new Promise(() => {}); // never resolves: only the abort can end this
    }
    let running: string[] = [];
    setTimeout(() => {
      running = zstdChildren();
      ac.abort();
    }, 300);
    await assert.rejects(
      collect(decompressStream('zstd', endless(), { zstd: 'spawn', signal: ac.signal })),
      (err) => kindOf(err) === 'canceled',
    );
    assert.equal(running.length, 1, 'zstd was running');
    assert.deepEqual(zstdChildren(), []);

    // gzip honours the signal too.
    const ac2 = new AbortController();
    ac2.abort();
    await assert.rejects(
      collect(
        decompress(MEDIA_TYPES.ociLayerGzip, chunked(gzipSync(DATA)), { signal: ac2.signal }),
      ),
      (err) => kindOf(err) === 'canceled',
    );
  });
});

describe('compress', () => {
  it('gzips deterministically, and decompress reads it back', async () => {
    const a = await collect(compress('gzip', chunked(DATA, 333)));
    const b = await collect(compress('gzip', chunked(DATA, 4096)));
    assert.deepEqual(a, b);
    assert.equal(a.readUInt32LE(4), 0, 'gzip header mtime is 0');
    assert.deepEqual(await collect(decompress(MEDIA_TYPES.ociLayerGzip, chunked(a))), DATA);
    const fast = await collect(compress('gzip', chunked(DATA), { level: 1 }));
    assert.deepEqual(await collect(decompress(MEDIA_TYPES.ociLayerGzip, chunked(fast))), DATA);
    assert.throws(() => compress('zstd', chunked(DATA)), isNotImplemented);
  });
});
