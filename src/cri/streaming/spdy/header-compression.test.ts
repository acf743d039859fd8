import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { constants, createDeflate, createInflate, type Deflate, type Inflate } from 'node:zlib';
import { HEADER_DICTIONARY } from './dictionary.js';
import { HeaderCompressor, HeaderDecompressor, MAX_HEADER_BLOCK } from './header-compression.js';

/** One sync-flushed step of a continuous zlib stream (what Go's framer does per header block). */
function step(z: Deflate | Inflate, input: Buffer): Promise<Buffer> {
  const out: Buffer[] = [];
  const onData = (c: Buffer) => out.push(c);
  z.on('data', onData);
  return new Promise((resolve) => {
    z.write(input);
    z.flush(constants.Z_SYNC_FLUSH, () => {
      setImmediate(() => {
        z.off('data', onData);
        resolve(Buffer.concat(out));
      });
    });
  });
}

function blocks(n: number): Buffer[] {
  return Array.from({ length: n }, (_, i) =>
    Buffer.from(`streamtype:stdout:port:${i}:${'x'.repeat((i * 131) % 900)}:requestid:${i * 7}`),
  );
}

describe('spdy header compression', () => {
  it("uses SPDY/3's dictionary", () => {
    assert.equal(HEADER_DICTIONARY.length, 1423);
    assert.equal(
      createHash('sha256').update(HEADER_DICTIONARY).digest('hex'),
      '51d27341373f923f3cd88e1eb7162aeaa3723d7585ff2399201dc06498407f02',
    );
  });

  it('decompresses what one continuous zlib stream with the dictionary sends, past the 32 KiB window', async () => {
    const z = createDeflate({ dictionary: HEADER_DICTIONARY, level: 9 });
    const dec = new HeaderDecompressor();
    let total = 0;
    for (const b of blocks(200)) {
      const wire = await step(z, b);
      assert.deepEqual(dec.decompress(wire), b);
      total += b.length;
    }
    assert.ok(total > 64 * 1024);
    z.close();
  });

  it('compresses into one continuous zlib stream a standard inflater reads', async () => {
    const z = createInflate({ dictionary: HEADER_DICTIONARY });
    const comp = new HeaderCompressor();
    const first = comp.compress(Buffer.from('x'));
    assert.deepEqual([...first.subarray(0, 6)], [0x78, 0xf9, 0xe3, 0xc6, 0xa7, 0xc2]);
    assert.deepEqual(await step(z, first), Buffer.from('x'));
    for (const b of blocks(120)) {
      const wire = comp.compress(b);
      assert.deepEqual(await step(z, wire), b);
    }
    z.close();
  });

  it('round-trips with itself, empty blocks included', () => {
    const comp = new HeaderCompressor();
    const dec = new HeaderDecompressor();
    for (const b of [
      Buffer.from([0, 0, 0, 0]),
      ...blocks(50),
      Buffer.alloc(0),
      Buffer.from([0, 0, 0, 0]),
    ]) {
      assert.deepEqual(dec.decompress(comp.compress(b)), b);
    }
  });

  it('refuses another dictionary, garbage and oversize blocks', () => {
    const other = createHash('sha256').update('x').digest();
    const z = createDeflate({ dictionary: other });
    const wrongDict = Buffer.from([0x78, 0xbb, 0, 0, 0, 1, 0]);
    assert.throws(() => new HeaderDecompressor().decompress(wrongDict), /another dictionary/);
    assert.throws(
      () => new HeaderDecompressor().decompress(Buffer.from([1, 2, 3])),
      /not a zlib stream/,
    );
    const dec = new HeaderDecompressor();
    dec.decompress(new HeaderCompressor().compress(Buffer.from('ok')));
    assert.throws(() => dec.decompress(Buffer.from([0xff, 0xff, 0xff, 0xff])), /spdy header block/);
    const comp = new HeaderCompressor();
    const huge = comp.compress(Buffer.alloc(MAX_HEADER_BLOCK + 1, 'a'));
    assert.throws(() => new HeaderDecompressor().decompress(huge), /spdy header block/);
    z.close();
  });
});
