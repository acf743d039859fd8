import { STATIC_BY_NAME } from './static-table.js';
import type { HeaderField } from './types.js';

/** Most octets a field's representation takes beyond its name and value (prefix + 2 lengths). */
const FIELD_OVERHEAD = 16;
/** Strings up to this length are copied by a JS loop, longer ones by Buffer#write. */
const SHORT_STRING = 64;

/**
 * Encodes a header list without the dynamic table and without Huffman coding, so the encoder
 * has no state and never emits a table size update (RFC 7541 §6):
 * - an exact static-table match → Indexed Header Field (e.g. `:status: 200` → 0x88);
 * - a name in the static table → Literal without Indexing, indexed name;
 * - otherwise → Literal without Indexing, new name.
 * Strings are written as latin1 (one octet per char). Names must be lowercase (RFC 7540
 * §8.1.2); a name outside the static table with an uppercase ASCII letter throws a TypeError.
 */
export function encodeHeaders(fields: readonly HeaderField[]): Buffer {
  let bound = 0;
  for (const [name, value] of fields) bound += name.length + value.length + FIELD_OVERHEAD;
  const out = Buffer.allocUnsafe(bound);
  let pos = 0;
  for (const [name, value] of fields) {
    const known = STATIC_BY_NAME.get(name);
    if (known === undefined) {
      checkLowercase(name);
      out[pos++] = 0x00;
      pos = writeString(out, pos, name);
    } else {
      const exact = known.values.get(value);
      if (exact !== undefined) {
        out[pos++] = 0x80 | exact; // static indices are < 127: one octet
        continue;
      }
      pos = writeInteger(out, pos, known.index, 4, 0x00);
    }
    pos = writeString(out, pos, value);
  }
  return out.subarray(0, pos);
}

/** Writes `value` with an n-bit prefix, the first octet's high bits being `flags` (§5.1). */
function writeInteger(
  out: Buffer,
  offset: number,
  value: number,
  prefixBits: number,
  flags: number,
): number {
  let pos = offset;
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    out[pos++] = flags | value;
    return pos;
  }
  out[pos++] = flags | max;
  let rest = value - max;
  while (rest >= 0x80) {
    out[pos++] = (rest & 0x7f) | 0x80;
    rest = Math.floor(rest / 0x80);
  }
  out[pos++] = rest;
  return pos;
}

/** Writes a string literal without Huffman coding (§5.2): 7-bit-prefix length, latin1 octets. */
function writeString(out: Buffer, offset: number, s: string): number {
  const length = s.length;
  let pos = writeInteger(out, offset, length, 7, 0x00);
  if (length > SHORT_STRING) return pos + out.write(s, pos, length, 'latin1');
  for (let i = 0; i < length; i++) out[pos++] = s.charCodeAt(i);
  return pos;
}

function checkLowercase(name: string): void {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a)
      throw new TypeError(`HTTP/2 header name must be lowercase: ${name}`);
  }
}
