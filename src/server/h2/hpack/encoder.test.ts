import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeHeaders, type HeaderField, HpackDecoder } from './index.js';
import { STATIC_TABLE } from './static-table.js';

const hex = (b: Buffer) => b.toString('hex');

describe('encodeHeaders', () => {
  it('indexes exact static matches in one octet', () => {
    assert.equal(hex(encodeHeaders([[':status', '200']])), '88');
    assert.equal(hex(encodeHeaders([[':method', 'POST']])), '83');
    assert.equal(hex(encodeHeaders([[':scheme', 'http']])), '86');
    assert.equal(hex(encodeHeaders([[':authority', '']])), '81');
    assert.equal(hex(encodeHeaders([['accept-encoding', 'gzip, deflate']])), '90');
    assert.equal(hex(encodeHeaders([['www-authenticate', '']])), 'bd');
    STATIC_TABLE.forEach((field, i) => {
      // The first entry with a given name and value wins; all 61 are distinct.
      assert.equal(hex(encodeHeaders([field])), (0x80 | (i + 1)).toString(16));
    });
  });

  it('writes a literal without indexing with the static name index', () => {
    // :status 4-bit index 8, value "418"
    assert.equal(hex(encodeHeaders([[':status', '418']])), '0803343138');
    // content-type is index 31: 0x0f then 31 - 15 = 16
    assert.equal(
      hex(encodeHeaders([['content-type', 'application/grpc']])),
      `0f1010${Buffer.from('application/grpc').toString('hex')}`,
    );
    // A name shared by several entries uses the first: :path is 4.
    assert.equal(hex(encodeHeaders([[':path', '/x']])), '04022f78');
  });

  it('writes a literal without indexing with a new name', () => {
    assert.equal(
      hex(encodeHeaders([['grpc-status', '0']])),
      `000b${Buffer.from('grpc-status').toString('hex')}0130`,
    );
    assert.equal(hex(encodeHeaders([['', '']])), '000000');
  });

  it('encodes long lengths with continuation octets', () => {
    const value = 'x'.repeat(300); // 127 + 173: 7f ad 01
    const out = encodeHeaders([['grpc-message', value]]);
    assert.equal(hex(out.subarray(0, 14)), `000c${Buffer.from('grpc-message').toString('hex')}`);
    assert.equal(hex(out.subarray(14, 17)), '7fad01');
    assert.equal(out.length, 17 + 300);
  });

  it('encodes an empty list as an empty block', () => {
    assert.equal(encodeHeaders([]).length, 0);
  });

  it('round-trips through the decoder without touching its dynamic table', () => {
    const dec = new HpackDecoder({ maxTableSize: 0 });
    const latin1 = Array.from({ length: 256 }, (_, i) => String.fromCharCode(i)).join('');
    const lists: HeaderField[][] = [
      [
        [':status', '200'],
        ['content-type', 'application/grpc'],
        ['grpc-accept-encoding', 'identity,deflate,gzip'],
      ],
      [
        ['grpc-status', '13'],
        ['grpc-message', 'x'.repeat(5000)],
        ['x-bin', latin1],
        ['date', ''],
        [':status', '204'],
        [':status', '204'],
      ],
    ];
    for (const list of lists) assert.deepEqual(dec.decode(encodeHeaders(list)), list);
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return (seed >>> 16) % n;
    };
    for (let round = 0; round < 200; round++) {
      const list: HeaderField[] = [];
      for (let i = rand(12); i > 0; i--) {
        const pick = rand(3);
        const known = STATIC_TABLE[rand(STATIC_TABLE.length)]!;
        const value = Array.from({ length: rand(200) }, () => String.fromCharCode(rand(256))).join(
          '',
        );
        if (pick === 0) list.push(known);
        else if (pick === 1) list.push([known[0], value]);
        else list.push([`x-${rand(1000)}`, value]);
      }
      assert.deepEqual(dec.decode(encodeHeaders(list)), list);
    }
  });

  it('refuses uppercase names', () => {
    assert.throws(() => encodeHeaders([['Grpc-Status', '0']]), TypeError);
  });
});
