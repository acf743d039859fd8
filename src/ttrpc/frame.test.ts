import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeHeader,
  encodeFrame,
  type Frame,
  FrameDecoder,
  HEADER_LENGTH,
  MAX_MESSAGE_LENGTH,
  MessageType,
} from './frame.js';

function feed(decoder: FrameDecoder, bytes: Buffer, chunkSize: number): Frame[] {
  const frames: Frame[] = [];
  for (let i = 0; i < bytes.length; i += chunkSize) {
    frames.push(...decoder.push(bytes.subarray(i, i + chunkSize)));
  }
  return frames;
}

function payloadOf(frame: Frame | undefined): Buffer {
  assert.ok(frame && !frame.oversize, 'expected a frame with a payload');
  return frame.payload;
}

describe('ttrpc framing', () => {
  it('writes the 10-byte header big-endian', () => {
    const frame = encodeFrame(0x01020305, MessageType.RESPONSE, Buffer.from('abc'), 0x7f);
    assert.deepEqual([...frame], [0, 0, 0, 3, 0x01, 0x02, 0x03, 0x05, 2, 0x7f, 0x61, 0x62, 0x63]);
    assert.deepEqual(decodeHeader(frame), {
      length: 3,
      streamId: 0x01020305,
      type: 2,
      flags: 0x7f,
    });
  });

  it('round-trips frames, including empty ones and the largest stream id', () => {
    const sent = [
      { id: 1, type: MessageType.REQUEST, payload: Buffer.from('hello') },
      { id: 3, type: MessageType.RESPONSE, payload: Buffer.alloc(0) },
      { id: 0xffffffff, type: MessageType.DATA, payload: Buffer.alloc(1000, 7) },
    ];
    const wire = Buffer.concat(sent.map((f) => encodeFrame(f.id, f.type, f.payload)));
    const frames = new FrameDecoder().push(wire);
    assert.equal(frames.length, 3);
    frames.forEach((frame, i) => {
      const want = sent[i];
      assert.ok(want);
      assert.equal(frame.header.streamId, want.id);
      assert.equal(frame.header.type, want.type);
      assert.equal(frame.header.length, want.payload.length);
      assert.deepEqual(payloadOf(frame), want.payload);
    });
  });

  it('reassembles frames fed byte by byte and in odd-sized chunks', () => {
    const payloads = [
      Buffer.from('first'),
      Buffer.alloc(0),
      Buffer.alloc(70_000, 0xab),
      Buffer.from('last'),
    ];
    const wire = Buffer.concat(
      payloads.map((p, i) => encodeFrame(2 * i + 1, MessageType.REQUEST, p)),
    );
    for (const size of [1, 3, HEADER_LENGTH, HEADER_LENGTH + 1, 4096, 65_536]) {
      const decoder = new FrameDecoder();
      const frames = feed(decoder, wire, size);
      assert.deepEqual(
        frames.map((f) => payloadOf(f)),
        payloads,
        `chunks of ${size}`,
      );
      assert.deepEqual(
        frames.map((f) => f.header.streamId),
        [1, 3, 5, 7],
      );
      assert.equal(decoder.pending, 0);
    }
  });

  it('holds only the frame in progress', () => {
    const decoder = new FrameDecoder();
    const wire = encodeFrame(1, MessageType.REQUEST, Buffer.alloc(100, 1));
    assert.deepEqual(decoder.push(wire.subarray(0, 60)), []);
    assert.equal(decoder.pending, 50);
    const [frame] = decoder.push(wire.subarray(60));
    assert.equal(payloadOf(frame).length, 100);
    assert.equal(decoder.pending, 0);
  });

  it('skips an oversize payload without keeping it, then reports it and stays in step', () => {
    const limit = 64;
    const decoder = new FrameDecoder(limit);
    const big = encodeFrame(5, MessageType.REQUEST, Buffer.alloc(limit + 1, 9));
    const next = encodeFrame(7, MessageType.REQUEST, Buffer.from('after'));
    const frames = feed(decoder, Buffer.concat([big, next]), 1);
    assert.equal(frames.length, 2);
    const [first, second] = frames;
    assert.ok(first?.oversize);
    assert.deepEqual(first.header, { length: limit + 1, streamId: 5, type: 1, flags: 0 });
    assert.deepEqual(payloadOf(second), Buffer.from('after'));
    assert.equal(second?.header.streamId, 7);

    // Not reported before its last byte has gone by, and nothing is held.
    const again = new FrameDecoder(limit);
    assert.deepEqual(again.push(big.subarray(0, big.length - 1)), []);
    assert.equal(again.pending, 0);
    const [done] = again.push(big.subarray(big.length - 1));
    assert.equal(done?.oversize, true);
  });

  it('accepts a payload of exactly the maximum size', () => {
    const decoder = new FrameDecoder();
    const wire = encodeFrame(1, MessageType.RESPONSE, Buffer.alloc(MAX_MESSAGE_LENGTH, 1));
    const frames = feed(decoder, wire, 65_536);
    assert.equal(frames.length, 1);
    assert.equal(payloadOf(frames[0]).length, MAX_MESSAGE_LENGTH);
  });

  it('reports a frame over the maximum with its real length', () => {
    const decoder = new FrameDecoder();
    const header = Buffer.alloc(HEADER_LENGTH);
    header.writeUInt32BE(0xffffffff, 0);
    header.writeUInt32BE(9, 4);
    header.writeUInt8(MessageType.REQUEST, 8);
    assert.deepEqual(decoder.push(header), []);
    assert.deepEqual(decoder.push(Buffer.alloc(1 << 20)), []);
    assert.equal(decoder.pending, 0);
  });
});
