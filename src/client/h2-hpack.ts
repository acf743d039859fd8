/**
 * @module
 * HPACK (RFC 7541) header block decoding for the client's small HTTP/2
 * connection (h2-unary.ts): the static table, the dynamic table the peer's
 * encoder fills, integers, and Huffman-coded strings. Decoding only: the
 * client's own header blocks are plain literals. Malformed input throws;
 * the connection then cannot go on (the dynamic table no longer matches
 * the peer's).
 */

/** The static table (RFC 7541 Appendix A); entry i has index i + 1. */
// biome-ignore format: one entry a line would be 61 lines
const STATIC: readonly (readonly [string, string])[] = [
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'],
  [':path', '/index.html'], [':scheme', 'http'], [':scheme', 'https'], [':status', '200'],
  [':status', '204'], [':status', '206'], [':status', '304'], [':status', '400'],
  [':status', '404'], [':status', '500'], ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'], ['accept-language', ''], ['accept-ranges', ''],
  ['accept', ''], ['access-control-allow-origin', ''], ['age', ''], ['allow', ''],
  ['authorization', ''], ['cache-control', ''], ['content-disposition', ''],
  ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''],
  ['date', ''], ['etag', ''], ['expect', ''], ['expires', ''], ['from', ''], ['host', ''],
  ['if-match', ''], ['if-modified-since', ''], ['if-none-match', ''], ['if-range', ''],
  ['if-unmodified-since', ''], ['last-modified', ''], ['link', ''], ['location', ''],
  ['max-forwards', ''], ['proxy-authenticate', ''], ['proxy-authorization', ''], ['range', ''],
  ['referer', ''], ['refresh', ''], ['retry-after', ''], ['server', ''], ['set-cookie', ''],
  ['strict-transport-security', ''], ['transfer-encoding', ''], ['user-agent', ''],
  ['vary', ''], ['via', ''], ['www-authenticate', ''],
];

/** Huffman code length in bits of symbols 0..255 and EOS (256), RFC 7541 Appendix B. */
// biome-ignore format: 16 symbols a row
const CODE_LENGTHS = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  30,
];
const EOS = 256;
const MAX_CODE_LENGTH = 30;

/**
 * The code is canonical (codes counted upwards in order of length, then
 * symbol), so a code of length L is decoded as its offset from the first
 * code of that length: COUNT[L] codes, the symbols in SYMBOLS from
 * FIRST_INDEX[L].
 */
const { COUNT, SYMBOLS } = (() => {
  const count = new Uint16Array(MAX_CODE_LENGTH + 1);
  for (const l of CODE_LENGTHS) count[l] = (count[l] ?? 0) + 1;
  const symbols = Array.from({ length: CODE_LENGTHS.length }, (_, s) => s).sort(
    (a, b) => (CODE_LENGTHS[a] as number) - (CODE_LENGTHS[b] as number) || a - b,
  );
  return { COUNT: count, SYMBOLS: Uint16Array.from(symbols) };
})();

/** Decodes a Huffman-coded string (RFC 7541 §5.2): padding is at most 7 one-bits. */
export function huffmanDecode(src: Uint8Array): string {
  const out: number[] = [];
  let code = 0; // the bits read of the current symbol
  let len = 0;
  let first = 0; // the first code of length `len`
  let index = 0; // SYMBOLS index of that first code
  let ones = true; // the current bits are all ones (a possible padding)
  for (let i = 0; i < src.length; i++) {
    const byte = src[i] as number;
    for (let b = 7; b >= 0; b--) {
      const bit = (byte >> b) & 1;
      code = code * 2 + bit;
      ones &&= bit === 1;
      len++;
      const n = COUNT[len] as number;
      if (code - first < n) {
        const sym = SYMBOLS[index + code - first] as number;
        if (sym === EOS) throw new Error('HPACK: EOS in a Huffman string');
        out.push(sym);
        code = 0;
        len = 0;
        first = 0;
        index = 0;
        ones = true;
        continue;
      }
      index += n;
      first = (first + n) * 2;
      if (len >= MAX_CODE_LENGTH) throw new Error('HPACK: bad Huffman code');
    }
  }
  if (len > 7 || !ones) throw new Error('HPACK: bad Huffman padding');
  return Buffer.from(out).toString('latin1');
}

/** Per-entry overhead of the dynamic table's size (RFC 7541 §4.1). */
const ENTRY_OVERHEAD = 32;

/**
 * One direction's decoding state of an HTTP/2 connection: blocks must be
 * decoded in the order they arrived. `maxTableSize` is the
 * SETTINGS_HEADER_TABLE_SIZE this side announced (4096 by default).
 */
export class HeaderDecoder {
  /** Newest first. */
  private readonly table: [string, string][] = [];
  private tableSize = 0;
  private capacity: number;
  private src: Uint8Array = new Uint8Array(0);
  private pos = 0;

  constructor(private readonly maxTableSize = 4096) {
    this.capacity = maxTableSize;
  }

  /** The fields of one complete header block (HEADERS and CONTINUATION fragments joined). */
  decode(block: Uint8Array): [string, string][] {
    this.src = block;
    this.pos = 0;
    const fields: [string, string][] = [];
    while (this.pos < block.length) {
      const b = block[this.pos] as number;
      if (b & 0x80) {
        fields.push(this.entry(this.integer(7)));
      } else if (b & 0x40) {
        const f = this.literal(6);
        this.add(f);
        fields.push(f);
      } else if (b & 0x20) {
        const size = this.integer(5);
        if (size > this.maxTableSize) throw new Error('HPACK: table size over the limit');
        this.capacity = size;
        this.evict(0);
      } else {
        fields.push(this.literal(4));
      }
    }
    return fields;
  }

  private entry(index: number): [string, string] {
    if (index === 0) throw new Error('HPACK: index 0');
    const f = index <= STATIC.length ? STATIC[index - 1] : this.table[index - STATIC.length - 1];
    if (f === undefined) throw new Error(`HPACK: index ${index} out of range`);
    return [f[0], f[1]];
  }

  private literal(prefix: number): [string, string] {
    const index = this.integer(prefix);
    const name = index === 0 ? this.string() : this.entry(index)[0];
    return [name, this.string()];
  }

  private add(f: [string, string]): void {
    const size = f[0].length + f[1].length + ENTRY_OVERHEAD;
    this.evict(size);
    if (size <= this.capacity) {
      this.table.unshift(f);
      this.tableSize += size;
    }
  }

  /** Drops the oldest entries until `room` more fits (all of them when it cannot). */
  private evict(room: number): void {
    while (this.table.length > 0 && this.tableSize + room > this.capacity) {
      const old = this.table.pop() as [string, string];
      this.tableSize -= old[0].length + old[1].length + ENTRY_OVERHEAD;
    }
  }

  /** An integer with an N-bit prefix (RFC 7541 §5.1). */
  private integer(prefix: number): number {
    const max = (1 << prefix) - 1;
    let value = (this.byte() as number) & max;
    if (value < max) return value;
    for (let shift = 0; ; shift += 7) {
      if (shift > 28) throw new Error('HPACK: integer too large');
      const b = this.byte();
      value += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return value;
    }
  }

  private string(): string {
    const huffman = ((this.src[this.pos] as number) & 0x80) !== 0;
    const length = this.integer(7);
    if (this.pos + length > this.src.length) throw new Error('HPACK: string past the block');
    const bytes = this.src.subarray(this.pos, this.pos + length);
    this.pos += length;
    return huffman ? huffmanDecode(bytes) : Buffer.from(bytes).toString('latin1');
  }

  private byte(): number {
    if (this.pos >= this.src.length) throw new Error('HPACK: truncated block');
    return this.src[this.pos++] as number;
  }
}
