import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StatusCode } from '../core/errdefs/index.js';
import {
  encodeGrpcMessage,
  frameMessage,
  GrpcStatusError,
  MESSAGE_PREFIX_SIZE,
  MessageReader,
  parseTimeout,
  type WireMessage,
} from './wire.js';

/** A message on the wire: flag byte, 4-byte length, payload. */
function wire(payload: Buffer, compressed = false): Buffer {
  const b = Buffer.alloc(MESSAGE_PREFIX_SIZE + payload.length);
  b[0] = compressed ? 1 : 0;
  b.writeUInt32BE(payload.length, 1);
  payload.copy(b, MESSAGE_PREFIX_SIZE);
  return b;
}

/** Deterministic bytes that differ from message to message. */
function bytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (seed * 31 + i * 7) & 0xff;
  return b;
}

interface Expected {
  payload: Buffer;
  compressed: boolean;
}

/** A message sequence with empty messages at the start, middle and end. */
const MESSAGES: Expected[] = [
  { payload: Buffer.alloc(0), compressed: false },
  { payload: bytes(3, 1), compressed: false },
  { payload: bytes(1, 2), compressed: true },
  { payload: Buffer.alloc(0), compressed: true },
  { payload: Buffer.alloc(0), compressed: false },
  { payload: bytes(11, 3), compressed: false },
  { payload: Buffer.alloc(0), compressed: false },
];
const STREAM = Buffer.concat(MESSAGES.map((m) => wire(m.payload, m.compressed)));
/** Offsets in STREAM at which a message ends (and the next may start). */
const BOUNDARIES = new Set<number>([0]);
{
  let at = 0;
  for (const m of MESSAGES) {
    at += MESSAGE_PREFIX_SIZE + m.payload.length;
    BOUNDARIES.add(at);
  }
}

/**
 * Feeds STREAM cut at `cuts`, checking after every chunk that `atBoundary`
 * says whether the bytes so far end on a message boundary.
 */
function feed(reader: MessageReader, cuts: number[]): WireMessage[] {
  const out: WireMessage[] = [];
  let from = 0;
  for (const to of [...cuts, STREAM.length]) {
    out.push(...reader.push(STREAM.subarray(from, to)));
    assert.equal(reader.atBoundary, BOUNDARIES.has(to), `atBoundary after byte ${to}`);
    from = to;
  }
  return out;
}

function assertMessages(got: WireMessage[], label: string): void {
  assert.equal(got.length, MESSAGES.length, `${label}: message count`);
  got.forEach((m, i) => {
    const want = MESSAGES[i]!;
    assert.deepEqual(m.payload, want.payload, `${label}: payload ${i}`);
    assert.equal(m.compressed, want.compressed, `${label}: compressed ${i}`);
    assert.equal(m.wireSize, MESSAGE_PREFIX_SIZE + want.payload.length, `${label}: wireSize ${i}`);
  });
}

function refusal(code: StatusCode, message: string) {
  return (err: unknown) => {
    assert.ok(err instanceof GrpcStatusError, `not a GrpcStatusError: ${err}`);
    assert.equal(err.code, code);
    assert.equal(err.message, message);
    return true;
  };
}

describe('MessageReader', () => {
  it('reads the whole sequence in one chunk', () => {
    const r = new MessageReader(1024);
    assertMessages(r.push(STREAM), 'one chunk');
    assert.equal(r.atBoundary, true);
  });

  it('reads the sequence cut at every single split point', () => {
    for (let i = 0; i <= STREAM.length; i++) {
      assertMessages(feed(new MessageReader(1024), [i]), `cut at ${i}`);
    }
  });

  it('reads the sequence cut at every pair of split points', () => {
    for (let i = 0; i <= STREAM.length; i++) {
      for (let j = i; j <= STREAM.length; j++) {
        assertMessages(feed(new MessageReader(1024), [i, j]), `cuts at ${i}, ${j}`);
      }
    }
  });

  it('reads the sequence one byte at a time', () => {
    const cuts = Array.from({ length: STREAM.length - 1 }, (_, i) => i + 1);
    assertMessages(feed(new MessageReader(1024), cuts), 'byte by byte');
  });

  it('does not let a later chunk change a message already returned', () => {
    // The whole-message fast path returns a view of the chunk, the split
    // path a copy; both must survive the reader's later work.
    const r = new MessageReader(1024);
    const a = bytes(20, 9);
    const chunk = Buffer.concat([wire(a), wire(bytes(4, 10)).subarray(0, 7)]);
    const first = r.push(chunk);
    assert.equal(first.length, 1);
    const second = r.push(wire(bytes(4, 10)).subarray(7));
    assert.deepEqual(first[0]!.payload, a);
    assert.deepEqual(second[0]!.payload, bytes(4, 10));
  });

  it('reads a large message split across many chunks', () => {
    const big = bytes(100_000, 5);
    const w = Buffer.concat([wire(big), wire(bytes(2, 6))]);
    const r = new MessageReader(100_000);
    const out: WireMessage[] = [];
    for (let at = 0; at < w.length; at += 4093) out.push(...r.push(w.subarray(at, at + 4093)));
    assert.equal(out.length, 2);
    assert.deepEqual(out[0]!.payload, big);
    assert.equal(out[0]!.wireSize, 100_005);
    assert.deepEqual(out[1]!.payload, bytes(2, 6));
    assert.equal(r.atBoundary, true);
  });

  it('refuses a message over the limit from its prefix alone, with grpc-go wording', () => {
    const r = new MessageReader(10);
    const prefix = wire(bytes(11, 1)).subarray(0, MESSAGE_PREFIX_SIZE);
    assert.throws(
      () => r.push(prefix),
      refusal(StatusCode.RESOURCE_EXHAUSTED, 'grpc: received message larger than max (11 vs. 10)'),
    );
  });

  it('refuses an oversize length whose prefix arrives split', () => {
    const r = new MessageReader(1000);
    const prefix = Buffer.from([0, 0x7f, 0xff, 0xff, 0xff]);
    assert.deepEqual(r.push(prefix.subarray(0, 3)), []);
    assert.equal(r.atBoundary, false);
    assert.throws(
      () => r.push(prefix.subarray(3)),
      refusal(
        StatusCode.RESOURCE_EXHAUSTED,
        'grpc: received message larger than max (2147483647 vs. 1000)',
      ),
    );
  });

  it('refuses an oversize message after good ones in the same chunk', () => {
    const r = new MessageReader(4);
    const chunk = Buffer.concat([wire(bytes(4, 1)), wire(bytes(5, 2)).subarray(0, 5)]);
    assert.throws(
      () => r.push(chunk),
      refusal(StatusCode.RESOURCE_EXHAUSTED, 'grpc: received message larger than max (5 vs. 4)'),
    );
  });

  it('accepts a message exactly at the limit', () => {
    const r = new MessageReader(8);
    const out = r.push(wire(bytes(8, 4)));
    assert.equal(out.length, 1);
    assert.deepEqual(out[0]!.payload, bytes(8, 4));
  });

  it('refuses an invalid compressed flag', () => {
    for (const flag of [2, 0x80, 0xff]) {
      const r = new MessageReader(100);
      const w = wire(bytes(2, 1));
      w[0] = flag;
      assert.throws(
        () => r.push(w),
        refusal(StatusCode.INTERNAL, `grpc: invalid message flag ${flag}`),
      );
    }
  });

  it('is at a boundary only between messages', () => {
    const r = new MessageReader(100);
    assert.equal(r.atBoundary, true, 'fresh');
    r.push(Buffer.from([0, 0]));
    assert.equal(r.atBoundary, false, 'inside the prefix');
    r.push(Buffer.from([0, 0, 2]));
    assert.equal(r.atBoundary, false, 'prefix complete, body missing');
    r.push(Buffer.from([1]));
    assert.equal(r.atBoundary, false, 'inside the body');
    assert.equal(r.push(Buffer.from([2])).length, 1);
    assert.equal(r.atBoundary, true, 'after the body');
    assert.equal(r.push(Buffer.from([0, 0, 0, 0, 0])).length, 1);
    assert.equal(r.atBoundary, true, 'after an empty message');
    assert.deepEqual(r.push(Buffer.alloc(0)), []);
    assert.equal(r.atBoundary, true, 'after an empty chunk');
  });
});

describe('frameMessage', () => {
  it('prefixes a payload with flag 0 and its big-endian length', () => {
    assert.deepEqual(frameMessage(Buffer.from([1, 2, 3])), Buffer.from([0, 0, 0, 0, 3, 1, 2, 3]));
    assert.deepEqual(frameMessage(new Uint8Array(0)), Buffer.alloc(5));
    const big = bytes(0x012345, 7);
    const f = frameMessage(new Uint8Array(big.buffer, big.byteOffset, big.length));
    assert.deepEqual(f.subarray(0, 5), Buffer.from([0, 0, 0x01, 0x23, 0x45]));
    assert.deepEqual(f.subarray(5), big);
  });

  it('reads back through MessageReader', () => {
    const payloads = [bytes(0, 0), bytes(17, 1), bytes(70_000, 2)];
    const r = new MessageReader(1 << 20);
    const out = r.push(Buffer.concat(payloads.map((p) => frameMessage(p))));
    assert.deepEqual(
      out.map((m) => m.payload),
      payloads,
    );
    assert.ok(out.every((m) => !m.compressed));
  });
});

describe('encodeGrpcMessage', () => {
  it('leaves printable ASCII other than % untouched', () => {
    const ascii = Array.from({ length: 0x7f - 0x20 }, (_, i) => String.fromCharCode(0x20 + i))
      .filter((c) => c !== '%')
      .join('');
    assert.equal(encodeGrpcMessage(ascii), ascii);
    assert.equal(encodeGrpcMessage(''), '');
    assert.equal(encodeGrpcMessage('namespace "x": not found'), 'namespace "x": not found');
  });

  it('percent-encodes %, control characters and DEL', () => {
    assert.equal(encodeGrpcMessage('100%'), '100%25');
    assert.equal(encodeGrpcMessage('%%'), '%25%25');
    assert.equal(encodeGrpcMessage('a\nb'), 'a%0Ab');
    assert.equal(encodeGrpcMessage('\r\t\x00\x7f'), '%0D%09%00%7F');
  });

  it('percent-encodes non-ASCII as its UTF-8 bytes, in upper-case hex', () => {
    assert.equal(encodeGrpcMessage('héllo'), 'h%C3%A9llo');
    assert.equal(encodeGrpcMessage('✓ ok'), '%E2%9C%93 ok');
    assert.equal(encodeGrpcMessage('🐳'), '%F0%9F%90%B3');
  });

  it('decodes back to the original with a percent-decoder', () => {
    for (const m of ['100% done\nnext', 'ünïcödé ✓ 🐳 %41', 'a+b=c&d?e#f']) {
      const enc = encodeGrpcMessage(m);
      assert.match(enc, /^[\x20-\x7e]*$/);
      assert.equal(decodeURIComponent(enc), m);
    }
  });
});

describe('parseTimeout', () => {
  it('reads every unit as milliseconds', () => {
    assert.equal(parseTimeout('2H'), 2 * 3_600_000);
    assert.equal(parseTimeout('3M'), 180_000);
    assert.equal(parseTimeout('4S'), 4000);
    assert.equal(parseTimeout('250m'), 250);
    assert.equal(parseTimeout('5000u'), 5);
    assert.equal(parseTimeout('7000000n'), 7);
    assert.equal(parseTimeout('0S'), 0);
    assert.equal(parseTimeout('99999999S'), 99_999_999_000, 'eight digits');
    assert.equal(parseTimeout('00000001m'), 1, 'leading zeros');
  });

  it('is undefined without the header', () => {
    assert.equal(parseTimeout(undefined), undefined);
  });

  it('refuses malformed values', () => {
    for (const v of [
      '',
      'S',
      '1',
      '123456789S',
      '1s',
      '1h',
      '1x',
      '-1S',
      '+1S',
      '1.5S',
      ' 1S',
      '1S ',
      '1 S',
      '1SS',
      '0x10S',
      '１S',
    ]) {
      assert.throws(
        () => parseTimeout(v),
        refusal(StatusCode.INTERNAL, `malformed grpc-timeout ${JSON.stringify(v)}`),
        JSON.stringify(v),
      );
    }
  });
});
