import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatNumeric, maxOctal, parseNumeric } from './numeric.js';
import {
  formatPaxRecords,
  formatPaxTime,
  parsePaxDecimal,
  parsePaxRecords,
  parsePaxTime,
} from './pax.js';

function field(text: string | number[], len: number): Buffer {
  const b = Buffer.alloc(len);
  if (typeof text === 'string') b.write(text, 'latin1');
  else Buffer.from(text).copy(b);
  return b;
}

describe('tar numeric fields', () => {
  it('parses octal with the padding GNU tar, Go and old tars use', () => {
    const table: ReadonlyArray<[string, number | undefined]> = [
      ['0000644\0', 0o644],
      ['   644 \0', 0o644],
      ['644\0\0\0\0\0', 0o644],
      ['\0\0\0\0\0\0\0\0', 0],
      ['        ', 0],
      ['77777777777\0', 8 ** 11 - 1],
      ['777777777777', 8 ** 12 - 1], // all 12 digits, no terminator
      ['12\0junk', 0o12], // the value ends at the first NUL
      ['0000648\0', undefined],
      ['12 34\0', undefined],
      ['-12\0', undefined],
    ];
    for (const [text, want] of table) {
      assert.equal(parseNumeric(field(text, 12), 0, 12), want, JSON.stringify(text));
    }
  });

  it('parses base-256, positive and negative, and refuses what a safe integer cannot hold', () => {
    assert.equal(
      parseNumeric(field([0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00], 12), 0, 12),
      256,
    );
    assert.equal(
      parseNumeric(field([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe], 8), 0, 8),
      -2,
    );
    const big = [0x80, 0, 0, 0, 0, 0, 0, 0x02, 0, 0, 0, 0x05]; // 2^33 + 5
    assert.equal(parseNumeric(field(big, 12), 0, 12), 2 ** 33 + 5);
    const huge = [0x80, 0, 0, 0, 0, 0x40, 0, 0, 0, 0, 0, 0]; // 2^54
    assert.equal(parseNumeric(field(huge, 12), 0, 12), undefined);
  });

  it('formats octal when it fits and base-256 beyond, both parsing back', () => {
    for (const [len, value] of [
      [8, 0],
      [8, 0o644],
      [8, maxOctal(8)],
      [8, maxOctal(8) + 1],
      [8, 0xffff_ffff],
      [12, 2 ** 33 + 5],
      [12, Number.MAX_SAFE_INTEGER],
      [12, -1],
      [12, -(2 ** 40)],
    ] as const) {
      const b = Buffer.alloc(len);
      formatNumeric(b, 0, len, value);
      assert.equal(parseNumeric(b, 0, len), value, `${len}:${value}`);
      assert.equal((b[0]! & 0x80) !== 0, value < 0 || value > maxOctal(len), `${value} encoding`);
    }
    assert.equal(
      field('0000644\0', 8).equals(
        (() => {
          const b = Buffer.alloc(8);
          formatNumeric(b, 0, 8, 0o644);
          return b;
        })(),
      ),
      true,
    );
    assert.throws(() => formatNumeric(Buffer.alloc(8), 0, 8, 2 ** 56), RangeError);
  });
});

describe('PAX records', () => {
  it('round-trips records whose length crosses a digit boundary', () => {
    for (let n = 0; n < 1100; n += 1) {
      const value = Buffer.alloc(n, 0x61);
      const data = formatPaxRecords([['k', value]]);
      const length = Number(data.toString('latin1', 0, data.indexOf(0x20)));
      assert.equal(length, data.length, `value of ${n}`);
      assert.deepEqual(parsePaxRecords(data), new Map([['k', value]]));
    }
  });

  it('keeps values as raw bytes: binary, newlines, "=" and invalid UTF-8', () => {
    const cap = Buffer.from('0100000280000000000000000000000000000000', 'hex');
    const odd = Buffer.from([0x80, 0xfe, 0xff, 0x0a, 0x3d, 0x00, 0x41]);
    const data = formatPaxRecords([
      ['SCHILY.xattr.security.capability', cap],
      ['SCHILY.xattr.user.odd', odd],
    ]);
    const parsed = parsePaxRecords(data);
    assert.ok(parsed.get('SCHILY.xattr.security.capability')?.equals(cap));
    assert.ok(parsed.get('SCHILY.xattr.user.odd')?.equals(odd));
  });

  it('refuses malformed framing, bad keys, NUL in names and repeated keys', () => {
    const table: ReadonlyArray<[string, string | Buffer, RegExp]> = [
      ['no length', 'path=a\n', /no length/],
      ['length not digits', '1x path=a\n', /no length|bad length/],
      ['length too long', '99 path=a\n', /does not fit/],
      ['length too short', '5 path=a\n', /does not fit|no "="/],
      ['no newline', '9 path=ab', /does not fit/],
      ['no equals', '9 pathab\n', /no "="/],
      ['empty key', '6 =ab\n', /invalid key/],
      ['NUL in path', Buffer.from('12 path=a\0b\n', 'latin1'), /NUL/],
      ['invalid UTF-8 key', Buffer.from([0x36, 0x20, 0xff, 0x3d, 0x61, 0x0a]), /invalid key/],
      ['repeated key', '9 path=a\n9 path=b\n', /appears twice/],
    ];
    for (const [doc, data, re] of table) {
      const buf = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
      assert.throws(() => parsePaxRecords(buf), re, doc);
    }
  });

  it('parses and formats times with nanoseconds, negative ones too', () => {
    const table: ReadonlyArray<[string, { sec: number; nsec: number }]> = [
      ['1700000000', { sec: 1700000000, nsec: 0 }],
      ['1700000000.123456789', { sec: 1700000000, nsec: 123456789 }],
      ['1700000000.5', { sec: 1700000000, nsec: 500000000 }],
      ['-1.5', { sec: -2, nsec: 500000000 }],
      ['-0.25', { sec: -1, nsec: 750000000 }],
      ['-7', { sec: -7, nsec: 0 }],
    ];
    for (const [text, time] of table) {
      assert.deepEqual(parsePaxTime(Buffer.from(text)), time, text);
      assert.equal(formatPaxTime(time), text, text);
    }
    // More than nine digits: truncated, as Go does.
    assert.deepEqual(parsePaxTime(Buffer.from('1.1234567899')), { sec: 1, nsec: 123456789 });
    for (const bad of ['', '1.', '1.x', '+1', ' 1', '1e9', '1.2.3']) {
      assert.equal(parsePaxTime(Buffer.from(bad)), undefined, bad);
    }
  });

  it('parses decimals strictly', () => {
    assert.equal(parsePaxDecimal(Buffer.from('8589934597')), 8589934597);
    for (const bad of ['', '-1', '+1', ' 1', '1 ', '0x10', '99999999999999999']) {
      assert.equal(parsePaxDecimal(Buffer.from(bad)), undefined, bad);
    }
  });
});
