/**
 * @module
 * tar's numeric fields: octal text, or GNU's base-256 (big-endian two's
 * complement, flagged by the high bit of the first byte) for values octal
 * cannot hold. Values are kept to safe integers.
 */

/**
 * Parses the numeric field `[start, start + len)` of `block`, or returns
 * undefined if it is malformed or out of the safe integer range. Octal may be
 * padded with spaces and NULs at either end, as GNU tar and Go accept; an
 * all-padding field is 0.
 */
export function parseNumeric(block: Buffer, start: number, len: number): number | undefined {
  const first = block[start]!;
  if (first & 0x80) return parseBase256(block, start, len);
  let s = start;
  let e = start + len;
  while (s < e && (block[s] === 0x20 || block[s] === 0)) s++;
  while (e > s && (block[e - 1] === 0x20 || block[e - 1] === 0)) e--;
  let value = 0;
  for (let i = s; i < e; i++) {
    const c = block[i]!;
    if (c === 0) break; // the value ends at the first NUL, as in Go
    if (c < 0x30 || c > 0x37) return undefined;
    value = value * 8 + (c - 0x30);
  }
  // 12 octal digits are at most 2^36: always safe.
  return value;
}

function parseBase256(block: Buffer, start: number, len: number): number | undefined {
  // Negative numbers are two's complement: invert the bytes, read, and take -x - 1.
  const inv = block[start]! & 0x40 ? 0xff : 0;
  let x = 0;
  for (let i = 0; i < len; i++) {
    let c = block[start + i]! ^ inv;
    if (i === 0) c &= 0x7f;
    x = x * 256 + c;
    if (x > Number.MAX_SAFE_INTEGER) return undefined;
  }
  return inv ? -x - 1 : x;
}

/** The largest value an octal field of `len` bytes holds (len - 1 digits and a NUL). */
export function maxOctal(len: number): number {
  return 8 ** (len - 1) - 1;
}

/**
 * Writes `value` (a safe integer) into the field: octal with a trailing NUL
 * when it fits, else base-256. Throws if even base-256 cannot hold it.
 */
export function formatNumeric(block: Buffer, start: number, len: number, value: number): void {
  if (value >= 0 && value <= maxOctal(len)) {
    const digits = value.toString(8).padStart(len - 1, '0');
    block.write(digits, start, len - 1, 'latin1');
    block[start + len - 1] = 0;
    return;
  }
  const bits = BigInt(8 * (len - 1));
  let x = BigInt(value);
  if (x >= 1n << bits || x < -(1n << bits)) {
    throw new RangeError(`${value} does not fit a ${len}-byte tar field`);
  }
  if (x < 0) x += 1n << BigInt(8 * len);
  for (let i = len - 1; i >= 1; i--) {
    block[start + i] = Number(x & 0xffn);
    x >>= 8n;
  }
  block[start] = value < 0 ? 0xff : 0x80;
}
