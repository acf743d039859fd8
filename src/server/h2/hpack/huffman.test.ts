import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HpackError } from './errors.js';
import {
  EOS,
  HUFFMAN_CODES,
  HUFFMAN_LENGTHS,
  huffmanDecode,
  huffmanEncode,
  huffmanEncodedLength,
} from './huffman.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const decodeAll = (b: Uint8Array) => huffmanDecode(b, 0, b.length);
const encode = (s: string) => {
  const out = Buffer.alloc(huffmanEncodedLength(s));
  assert.equal(huffmanEncode(s, out, 0), out.length);
  return out;
};
const code = (symbol: number) => [HUFFMAN_CODES[symbol], HUFFMAN_LENGTHS[symbol]];

describe('HPACK Huffman code', () => {
  it('generates the canonical codes of RFC 7541 Appendix B from the lengths', () => {
    assert.deepEqual(code('0'.charCodeAt(0)), [0b00000, 5]);
    assert.deepEqual(code('a'.charCodeAt(0)), [0b00011, 5]);
    assert.deepEqual(code(' '.charCodeAt(0)), [0b010100, 6]);
    // RFC 7541 Appendix B: 'z' |1111011 (7b), the last 7-bit code; 1111101 is no code.
    assert.deepEqual(code('z'.charCodeAt(0)), [0b1111011, 7]);
    assert.deepEqual(code(0), [0x1ff8, 13]);
    assert.deepEqual(code(255), [0x3ffffee, 26]);
    assert.deepEqual(code(EOS), [0x3fffffff, 30]);
    assert.equal(HUFFMAN_CODES.length, 257);
  });

  it('encodes and decodes the strings of RFC 7541 C.4 and C.6', () => {
    const vectors: [string, string][] = [
      ['www.example.com', 'f1e3 c2e5 f23a 6ba0 ab90 f4ff'],
      ['no-cache', 'a8eb 1064 9cbf'],
      ['custom-key', '25a8 49e9 5ba9 7d7f'],
      ['custom-value', '25a8 49e9 5bb8 e8b4 bf'],
      ['302', '6402'],
      ['private', 'aec3 771a 4b'],
      ['Mon, 21 Oct 2013 20:13:21 GMT', 'd07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff'],
      ['https://www.example.com', '9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3'],
      ['307', '640e ff'],
      ['gzip', '9bd9 ab'],
      [
        'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1',
        '94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07',
      ],
    ];
    for (const [text, coded] of vectors) {
      assert.deepEqual(encode(text), hex(coded), text);
      assert.equal(decodeAll(hex(coded)), text);
    }
  });

  it('round-trips every octet value and random strings', () => {
    const every = Buffer.alloc(256 * 3);
    for (let i = 0; i < every.length; i++) every[i] = i % 256;
    const all = every.toString('latin1');
    assert.equal(decodeAll(encode(all)), all);
    let seed = 12345;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed >>> 16;
    };
    for (let n = 0; n < 500; n++) {
      const len = rand() % 40;
      let s = '';
      for (let i = 0; i < len; i++)
        s += String.fromCharCode(n % 2 ? rand() % 256 : 32 + (rand() % 95));
      assert.equal(decodeAll(encode(s)), s);
    }
  });

  it('decodes a sub-range of a larger buffer, and the empty string', () => {
    const inner = hex('f1e3 c2e5 f23a 6ba0 ab90 f4ff');
    const outer = Buffer.concat([hex('0102'), inner, hex('0304')]);
    assert.equal(huffmanDecode(outer, 2, 2 + inner.length), 'www.example.com');
    assert.equal(huffmanDecode(outer, 2, 2), '');
  });

  it('rejects EOS inside a string', () => {
    assert.throws(() => decodeAll(hex('ffff ffff')), HpackError); // EOS then 2 bits
    // 'a' (00011), EOS, then padding
    assert.throws(() => decodeAll(hex('1fff ffff ff')), /EOS/);
  });

  it('rejects padding longer than 7 bits', () => {
    assert.throws(() => decodeAll(hex('ff')), /padding/); // 8 one-bits, no symbol
    assert.throws(() => decodeAll(hex('1fff')), /padding/); // 'a' + 11 one-bits
    assert.throws(() => decodeAll(hex('1fff ffff')), /padding/); // 'a' + 27 one-bits
  });

  it('rejects padding that is not all ones', () => {
    assert.throws(() => decodeAll(hex('18')), /padding/); // 'a' + 000
    assert.throws(() => decodeAll(hex('1e')), /padding/); // 'a' + 110
    assert.equal(decodeAll(hex('1f')), 'a'); // 'a' + 111 is fine
    assert.throws(() => decodeAll(hex('0000')), /padding/); // '0' '0' '0' + 0
  });
});
