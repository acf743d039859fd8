import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  encodeDataHeader,
  encodeGoAway,
  encodeHeaders,
  encodePing,
  encodeRstStream,
  encodeSettings,
  encodeSynReply,
  encodeSynStream,
  encodeWindowUpdate,
  FLAG_FIN,
  type Frame,
  FrameReader,
  RstStatus,
} from './frames.js';
import { decodeHeaderBlock, encodeHeaderBlock, headerValue } from './header-block.js';

function readAll(bytes: Buffer, chunkSize: number, max?: number): Frame[] {
  const r = new FrameReader(max);
  const frames: Frame[] = [];
  for (let i = 0; i < bytes.length; i += chunkSize) {
    r.push(bytes.subarray(i, i + chunkSize));
    for (let f = r.next(); f; f = r.next()) frames.push(f);
  }
  assert.equal(r.pending, 0);
  return frames;
}

describe('spdy frames', () => {
  it('writes control frames as SPDY/3 lays them out', () => {
    // control bit + version 3, type, flags, 24-bit length, then the fields
    assert.deepEqual(
      [...encodeRstStream(5, RstStatus.Cancel)],
      [0x80, 3, 0, 3, 0, 0, 0, 8, 0, 0, 0, 5, 0, 0, 0, 5],
    );
    assert.deepEqual([...encodePing(7)], [0x80, 3, 0, 6, 0, 0, 0, 4, 0, 0, 0, 7]);
    assert.deepEqual([...encodeGoAway(9, 0)], [0x80, 3, 0, 7, 0, 0, 0, 8, 0, 0, 0, 9, 0, 0, 0, 0]);
    assert.deepEqual(
      [...encodeWindowUpdate(3, 0x10000)],
      [0x80, 3, 0, 9, 0, 0, 0, 8, 0, 0, 0, 3, 0, 1, 0, 0],
    );
    assert.deepEqual(
      [...encodeSynReply(1, Buffer.from([0xaa, 0xbb]), FLAG_FIN)],
      [0x80, 3, 0, 2, 1, 0, 0, 6, 0, 0, 0, 1, 0xaa, 0xbb],
    );
    assert.deepEqual(
      [...encodeSynStream(3, Buffer.from([0xcc]), { priority: 7, associatedTo: 1 })],
      [0x80, 3, 0, 1, 0, 0, 0, 11, 0, 0, 0, 3, 0, 0, 0, 1, 0xe0, 0, 0xcc],
    );
    assert.deepEqual(
      [...encodeSettings([{ id: 7, value: 1024, flags: 1 }])],
      [0x80, 3, 0, 4, 0, 0, 0, 12, 0, 0, 0, 1, 1, 0, 0, 7, 0, 0, 4, 0],
    );
  });

  it('writes data frame headers with the FIN flag and length', () => {
    assert.deepEqual([...encodeDataHeader(3, 5, false)], [0, 0, 0, 3, 0, 0, 0, 5]);
    assert.deepEqual(
      [...encodeDataHeader(0x7fffffff, 0, true)],
      [0x7f, 0xff, 0xff, 0xff, 1, 0, 0, 0],
    );
    assert.throws(() => encodeDataHeader(0, 1, false), RangeError);
    assert.throws(() => encodeDataHeader(1, 1 << 24, false), RangeError);
  });

  it('reads back every frame type, whatever the chunking', () => {
    const bytes = Buffer.concat([
      encodeSynStream(1, Buffer.from('hdr'), { flags: FLAG_FIN, priority: 3 }),
      encodeSynReply(2, Buffer.from('r')),
      encodeHeaders(1, Buffer.from('h'), FLAG_FIN),
      encodeDataHeader(1, 3, true),
      Buffer.from('abc'),
      encodeDataHeader(1, 0, false),
      encodeRstStream(1, RstStatus.RefusedStream),
      encodeSettings([
        { id: 7, value: 65536 },
        { id: 4, value: 100 },
      ]),
      encodePing(2),
      encodeGoAway(11, 1),
      encodeWindowUpdate(0, 4096),
    ]);
    const expected: Frame[] = [
      {
        type: 'syn_stream',
        streamId: 1,
        associatedTo: 0,
        priority: 3,
        flags: FLAG_FIN,
        headerBlock: Buffer.from('hdr'),
      },
      { type: 'syn_reply', streamId: 2, flags: 0, headerBlock: Buffer.from('r') },
      { type: 'headers', streamId: 1, flags: FLAG_FIN, headerBlock: Buffer.from('h') },
      { type: 'data', streamId: 1, flags: FLAG_FIN, data: Buffer.from('abc') },
      { type: 'data', streamId: 1, flags: 0, data: Buffer.alloc(0) },
      { type: 'rst_stream', streamId: 1, status: RstStatus.RefusedStream },
      {
        type: 'settings',
        flags: 0,
        entries: [
          { flags: 0, id: 7, value: 65536 },
          { flags: 0, id: 4, value: 100 },
        ],
      },
      { type: 'ping', id: 2 },
      { type: 'goaway', lastGoodStreamId: 11, status: 1 },
      { type: 'window_update', streamId: 0, delta: 4096 },
    ];
    for (const size of [1, 3, 7, 64, bytes.length]) {
      assert.deepEqual(readAll(bytes, size), expected, `chunks of ${size}`);
    }
  });

  it('passes unknown control frame types on to be ignored', () => {
    const b = Buffer.from([0x80, 3, 0, 10, 0, 0, 0, 2, 1, 2]);
    assert.deepEqual(readAll(b, 4), [
      { type: 'unknown', controlType: 10, flags: 0, payload: Buffer.from([1, 2]) },
    ]);
  });

  it('refuses another version, short control frames and frames over the limit', () => {
    const v2 = Buffer.from([0x80, 2, 0, 6, 0, 0, 0, 4, 0, 0, 0, 1]);
    assert.throws(() => readAll(v2, 64), /version 2/);
    const shortRst = Buffer.from([0x80, 3, 0, 3, 0, 0, 0, 4, 0, 0, 0, 1]);
    assert.throws(() => readAll(shortRst, 64), /RST_STREAM frame: 4 bytes/);
    const big = encodeDataHeader(1, 2000, false);
    const r = new FrameReader(1000);
    r.push(big);
    assert.throws(() => r.next(), /2000 bytes: at most 1000/);
    const control = new FrameReader(1 << 20, 100);
    control.push(encodeDataHeader(1, 500, false));
    control.push(Buffer.alloc(500));
    assert.equal(control.next()?.type, 'data', 'data frames may be longer than control frames');
    control.push(encodeSynReply(1, Buffer.alloc(200)).subarray(0, 8));
    assert.throws(() => control.next(), /204 bytes: at most 100/);
  });

  it('does not hold a frame until it is whole', () => {
    const r = new FrameReader();
    r.push(encodeDataHeader(1, 4, false));
    r.push(Buffer.from('ab'));
    assert.equal(r.next(), undefined);
    r.push(Buffer.from('cd'));
    assert.deepEqual(r.next(), { type: 'data', streamId: 1, flags: 0, data: Buffer.from('abcd') });
  });
});

describe('spdy header blocks', () => {
  it('encodes names lower case, values NUL-joined, and decodes them back', () => {
    const block = encodeHeaderBlock({ streamType: ['stdout'], port: ['80', '8080'] });
    assert.deepEqual(
      [...block],
      [
        ...[0, 0, 0, 2],
        ...[0, 0, 0, 10],
        ...Buffer.from('streamtype'),
        ...[0, 0, 0, 6],
        ...Buffer.from('stdout'),
        ...[0, 0, 0, 4],
        ...Buffer.from('port'),
        ...[0, 0, 0, 7],
        ...Buffer.from('80\u00008080'),
      ],
    );
    const headers = decodeHeaderBlock(block);
    assert.deepEqual({ ...headers }, { streamtype: ['stdout'], port: ['80', '8080'] });
    assert.equal(headerValue(headers, 'streamType'), 'stdout');
    assert.equal(headerValue(headers, 'requestID'), undefined);
  });

  it('refuses upper-case and repeated names and truncated blocks', () => {
    const upper = Buffer.from([0, 0, 0, 1, 0, 0, 0, 1, 0x41, 0, 0, 0, 0]);
    assert.throws(() => decodeHeaderBlock(upper), /not lower case/);
    const twice = Buffer.concat([
      Buffer.from([0, 0, 0, 2]),
      ...[0, 1].map(() => Buffer.from([0, 0, 0, 1, 0x61, 0, 0, 0, 0])),
    ]);
    assert.throws(() => decodeHeaderBlock(twice), /appears twice/);
    assert.throws(
      () => decodeHeaderBlock(Buffer.from([0, 0, 0, 1, 0, 0, 0, 5, 0x61])),
      /truncated/,
    );
    assert.throws(() => decodeHeaderBlock(Buffer.from([0, 0, 0, 0, 1])), /bytes after/);
  });
});
