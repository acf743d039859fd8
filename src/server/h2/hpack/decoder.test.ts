import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type HeaderField, HpackDecoder, HpackError } from './index.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** An Indexed Header Field representation of `index` (RFC 7541 §6.1). */
function indexed(index: number): Buffer {
  if (index < 127) return Buffer.from([0x80 | index]);
  const out = [0xff];
  let rest = index - 127;
  while (rest >= 0x80) {
    out.push((rest & 0x7f) | 0x80);
    rest >>>= 7;
  }
  out.push(rest);
  return Buffer.from(out);
}

/** The decoder's dynamic table, newest first, probed by decoding indexed fields from 62 on. */
function dynamicTable(dec: HpackDecoder): HeaderField[] {
  const entries: HeaderField[] = [];
  for (let i = 62; ; i++) {
    try {
      entries.push(...dec.decode(indexed(i)));
    } catch (err) {
      assert.ok(err instanceof HpackError);
      assert.match(err.message, /beyond the tables/);
      return entries;
    }
  }
}
const tableSize = (entries: HeaderField[]) =>
  entries.reduce((n, [name, value]) => n + name.length + value.length + 32, 0);

interface Step {
  block: string;
  headers: [string, string][];
  /** Dynamic table afterwards, newest first, and its size (RFC 7541 Appendix C). */
  table: [string, string][];
  size: number;
}

function series(maxTableSize: number, steps: Step[]): void {
  const dec = new HpackDecoder({ maxTableSize });
  for (const step of steps) {
    assert.deepEqual(dec.decode(hex(step.block)), step.headers);
    const table = dynamicTable(dec);
    assert.deepEqual(table, step.table);
    assert.equal(tableSize(table), step.size);
  }
}

const req1: [string, string][] = [
  [':method', 'GET'],
  [':scheme', 'http'],
  [':path', '/'],
  [':authority', 'www.example.com'],
];
const req2: [string, string][] = [...req1, ['cache-control', 'no-cache']];
const req3: [string, string][] = [
  [':method', 'GET'],
  [':scheme', 'https'],
  [':path', '/index.html'],
  [':authority', 'www.example.com'],
  ['custom-key', 'custom-value'],
];
const reqTables: [string, string][][] = [
  [[':authority', 'www.example.com']],
  [
    ['cache-control', 'no-cache'],
    [':authority', 'www.example.com'],
  ],
  [
    ['custom-key', 'custom-value'],
    ['cache-control', 'no-cache'],
    [':authority', 'www.example.com'],
  ],
];

const date1 = 'Mon, 21 Oct 2013 20:13:21 GMT';
const date2 = 'Mon, 21 Oct 2013 20:13:22 GMT';
const location = 'https://www.example.com';
const cookie = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1';
const resp1: [string, string][] = [
  [':status', '302'],
  ['cache-control', 'private'],
  ['date', date1],
  ['location', location],
];
const resp2: [string, string][] = [
  [':status', '307'],
  ['cache-control', 'private'],
  ['date', date1],
  ['location', location],
];
const resp3: [string, string][] = [
  [':status', '200'],
  ['cache-control', 'private'],
  ['date', date2],
  ['location', location],
  ['content-encoding', 'gzip'],
  ['set-cookie', cookie],
];
const respTables: [string, string][][] = [
  [
    ['location', location],
    ['date', date1],
    ['cache-control', 'private'],
    [':status', '302'],
  ],
  [
    [':status', '307'],
    ['location', location],
    ['date', date1],
    ['cache-control', 'private'],
  ],
  [
    ['set-cookie', cookie],
    ['content-encoding', 'gzip'],
    ['date', date2],
  ],
];

describe('HpackDecoder: RFC 7541 Appendix C', () => {
  it('C.2.1 literal with indexing', () => {
    series(4096, [
      {
        block: '400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572',
        headers: [['custom-key', 'custom-header']],
        table: [['custom-key', 'custom-header']],
        size: 55,
      },
    ]);
  });

  it('C.2.2 literal without indexing', () => {
    series(4096, [
      {
        block: '040c 2f73 616d 706c 652f 7061 7468',
        headers: [[':path', '/sample/path']],
        table: [],
        size: 0,
      },
    ]);
  });

  it('C.2.3 literal never indexed', () => {
    series(4096, [
      {
        block: '1008 7061 7373 776f 7264 0673 6563 7265 74',
        headers: [['password', 'secret']],
        table: [],
        size: 0,
      },
    ]);
  });

  it('C.2.4 indexed field', () => {
    series(4096, [{ block: '82', headers: [[':method', 'GET']], table: [], size: 0 }]);
  });

  it('C.3 requests without Huffman coding', () => {
    series(4096, [
      {
        block: '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
        headers: req1,
        table: reqTables[0]!,
        size: 57,
      },
      {
        block: '8286 84be 5808 6e6f 2d63 6163 6865',
        headers: req2,
        table: reqTables[1]!,
        size: 110,
      },
      {
        block: '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65',
        headers: req3,
        table: reqTables[2]!,
        size: 164,
      },
    ]);
  });

  it('C.4 requests with Huffman coding', () => {
    series(4096, [
      {
        block: '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff',
        headers: req1,
        table: reqTables[0]!,
        size: 57,
      },
      { block: '8286 84be 5886 a8eb 1064 9cbf', headers: req2, table: reqTables[1]!, size: 110 },
      {
        block: '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf',
        headers: req3,
        table: reqTables[2]!,
        size: 164,
      },
    ]);
  });

  it('C.5 responses without Huffman coding, evicting from a 256-octet table', () => {
    series(256, [
      {
        block: `4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
                2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70
                6c65 2e63 6f6d`,
        headers: resp1,
        table: respTables[0]!,
        size: 222,
      },
      { block: '4803 3330 37c1 c0bf', headers: resp2, table: respTables[1]!, size: 222 },
      {
        block: `88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
                54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
                5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e
                3d31`,
        headers: resp3,
        table: respTables[2]!,
        size: 215,
      },
    ]);
  });

  it('C.6 responses with Huffman coding, evicting from a 256-octet table', () => {
    series(256, [
      {
        block: `4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
                2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3`,
        headers: resp1,
        table: respTables[0]!,
        size: 222,
      },
      { block: '4883 640e ffc1 c0bf', headers: resp2, table: respTables[1]!, size: 222 },
      {
        block: `88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
                77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
                9587 3160 65c0 03ed 4ee5 b106 3d50 07`,
        headers: resp3,
        table: respTables[2]!,
        size: 215,
      },
    ]);
  });
});

describe('HpackDecoder', () => {
  it('decodes an empty block, and blocks held in plain Uint8Arrays and sub-views', () => {
    const dec = new HpackDecoder();
    assert.deepEqual(dec.decode(new Uint8Array(0)), []);
    const raw = new Uint8Array([9, 9, 0x82, 0x40, 0x01, 0x61, 0x01, 0x62, 9]);
    assert.deepEqual(dec.decode(raw.subarray(2, 8)), [
      [':method', 'GET'],
      ['a', 'b'],
    ]);
    assert.deepEqual(dynamicTable(dec), [['a', 'b']]);
  });

  it('keeps every octet of a value (latin1), raw and Huffman-coded', () => {
    const dec = new HpackDecoder();
    const value = '\x00\x7f\x80\xe9\xff';
    const raw = Buffer.concat([hex('0001 7805'), Buffer.from(value, 'latin1')]);
    assert.deepEqual(dec.decode(raw), [['x', value]]);
    // 0xff's code is 11111111 11111111 11111011 10 (26 bits); 6 one-bits pad it to ff ff fb bf.
    assert.deepEqual(dec.decode(hex('0001 7884 ffff fbbf')), [['x', '\xff']]);
  });

  it('applies size updates at the start of a block, evicting as needed', () => {
    const dec = new HpackDecoder();
    dec.decode(hex('4001 6101 62')); // a: b
    dec.decode(hex('4001 6301 64')); // c: d
    assert.deepEqual(dynamicTable(dec), [
      ['c', 'd'],
      ['a', 'b'],
    ]);
    // Shrink to 34 (one entry), then back to 4096: the oldest is gone for good.
    assert.deepEqual(dec.decode(hex('3f03 3fe1 1f 82')), [[':method', 'GET']]);
    assert.deepEqual(dynamicTable(dec), [['c', 'd']]);
    assert.deepEqual(dec.decode(hex('20')), []); // size 0 clears the table
    assert.deepEqual(dynamicTable(dec), []);
    dec.decode(hex('3fe1 1f')); // back to 4096, the advertised maximum
    dec.decode(hex('4001 6101 62'));
    assert.deepEqual(dynamicTable(dec), [['a', 'b']]);
  });

  it('empties the table for an entry larger than the table, without error', () => {
    const dec = new HpackDecoder({ maxTableSize: 64 });
    dec.decode(hex('4001 6101 62'));
    const big = 'v'.repeat(40); // 1 + 40 + 32 > 64
    assert.deepEqual(dec.decode(Buffer.concat([hex('4001 7828'), Buffer.from(big)])), [['x', big]]);
    assert.deepEqual(dynamicTable(dec), []);
  });

  it('evicts in insertion order over many entries (ring growth and wrap-around)', () => {
    const dec = new HpackDecoder({ maxTableSize: 40 * 100 });
    const expected: HeaderField[] = [];
    for (let i = 0; i < 1000; i++) {
      const name = `n${String(i).padStart(3, '0')}`; // 4 + 4 + 32 = 40 octets
      const value = `v${String(i).padStart(3, '0')}`;
      dec.decode(Buffer.concat([hex('4004'), Buffer.from(name), hex('04'), Buffer.from(value)]));
      expected.unshift([name, value]);
      if (i % 97 === 0 || i === 999) assert.deepEqual(dynamicTable(dec), expected.slice(0, 100));
    }
  });

  it('decodes integers up to 2^31 - 1 and multi-octet indices', () => {
    const dec = new HpackDecoder({ maxTableSize: 8192 });
    for (let i = 0; i < 200; i++) dec.decode(hex('4001 6101 62'));
    assert.deepEqual(dec.decode(indexed(61 + 128)), [['a', 'b']]); // 2-octet index
    // 0x7fffffff = 127 + 0x7fffff80: ff 80 ff ff ff 07
    assert.throws(() => dec.decode(hex('ff80 ffff ff07')), /index 2147483647 beyond/);
  });
});

describe('HpackDecoder errors', () => {
  const rejects = (block: string, message: RegExp, opts?: { maxTableSize?: number }) => {
    assert.throws(
      () => new HpackDecoder(opts).decode(hex(block)),
      (err: unknown) => err instanceof HpackError && message.test(err.message),
      block,
    );
  };

  it('index 0', () => {
    rejects('80', /index 0/);
  });

  it('index beyond the static and dynamic tables', () => {
    rejects('be', /index 62 beyond/); // indexed, empty dynamic table
    rejects('7f00 0161', /index 63 beyond/); // literal with indexing, name index 63
    rejects('0f2f 0161', /index 62 beyond/); // literal without indexing, name index 62
    rejects('1f30 0161', /index 63 beyond/); // never indexed, name index 63
    rejects('4001 6101 62 bf', /index 63 beyond/); // one dynamic entry: 62 ok, 63 not
  });

  it('integer overflow and overlong integers', () => {
    rejects('ff80 8080 8008', /exceeds 2\^31/); // 127 + 2^31
    rejects('ffff ffff ff0f', /exceeds 2\^31/);
    rejects('ff80 8080 8080 00', /too many octets/);
    rejects('ff', /past the end/);
    rejects('ff80', /past the end/);
    rejects('0f', /past the end/);
  });

  it('strings past the end of the block', () => {
    rejects('0005 61', /runs past the end/);
    rejects('0001 6105 62', /runs past the end/);
    rejects('0085 f1e3', /runs past the end/);
    rejects('00', /string literal missing/);
    rejects('4001 61', /string literal missing/);
    rejects('0f01', /string literal missing/);
  });

  it('invalid Huffman strings', () => {
    rejects('0081 ff 00', /padding/); // 8 bits of padding
    rejects('0081 18 00', /padding/); // 'a' padded with zeros
    rejects('0001 6184 ffff ffff', /EOS/);
  });

  it('size update above the advertised maximum or after a field', () => {
    rejects('3fe2 1f', /4097 exceeds the advertised 4096/);
    rejects('3f03', /34 exceeds the advertised 33/, { maxTableSize: 33 });
    rejects('82 20', /after the start/);
    rejects('20 82 20', /after the start/);
  });

  it('header list above maxListSize', () => {
    const block = hex('82 4001 6101 62'); // (7 + 3 + 32) + (1 + 1 + 32) = 76
    assert.equal(new HpackDecoder({ maxListSize: 76 }).decode(block).length, 2);
    assert.throws(
      () => new HpackDecoder({ maxListSize: 75 }).decode(block),
      (err: unknown) => err instanceof HpackError && /maxListSize \(75 octets\)/.test(err.message),
    );
    // A block repeating one static field cannot inflate past the bound.
    const flood = Buffer.alloc(16384, 0x82);
    assert.throws(() => new HpackDecoder().decode(flood), /maxListSize \(65536 octets\)/);
  });

  it('rejects nonsensical options', () => {
    assert.throws(() => new HpackDecoder({ maxTableSize: -1 }), RangeError);
    assert.throws(() => new HpackDecoder({ maxListSize: 1.5 }), RangeError);
  });
});
