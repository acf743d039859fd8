import { HpackError } from './errors.js';

/**
 * The HPACK Huffman code (RFC 7541 §5.2 and Appendix B).
 *
 * The code is canonical: sorting the symbols by (code length, symbol) and counting upwards
 * gives every code, so only the lengths are written down here; the codes and the decoding
 * automaton are derived from them at module load.
 */

/** Symbol 256: end of string. Never valid inside a string; its leading bits pad the last octet. */
export const EOS = 256;

/** Code length in bits of symbols 0..255 and EOS (256), from RFC 7541 Appendix B. */
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
] as const;

/** Code length in bits per symbol (0..256). */
export const HUFFMAN_LENGTHS: Readonly<Uint8Array> = Uint8Array.from(CODE_LENGTHS);

/** Code per symbol (0..256), right-aligned in the low HUFFMAN_LENGTHS[symbol] bits. */
export const HUFFMAN_CODES: Readonly<Uint32Array> = (() => {
  const symbols = CODE_LENGTHS.length;
  const order = Array.from({ length: symbols }, (_, s) => s).sort(
    (a, b) => CODE_LENGTHS[a]! - CODE_LENGTHS[b]! || a - b,
  );
  const codes = new Uint32Array(symbols);
  let code = -1;
  let len = CODE_LENGTHS[order[0]!]!;
  for (const s of order) {
    const l = CODE_LENGTHS[s]!;
    code = (code + 1) * 2 ** (l - len);
    len = l;
    codes[s] = code;
  }
  return codes;
})();

/*
 * Decoding runs a finite automaton over 4-bit nibbles. Its states are the 256 internal nodes
 * of the code tree (257 leaves), 0 being the root. Each transition entry packs:
 *   bits 0-7  the next state
 *   bits 8-15 the symbol completed by this nibble, when EMIT is set (codes are ≥ 5 bits, so
 *             a nibble completes at most one)
 *   EMIT      a symbol was completed
 *   ACCEPT    the string may end here: at the root, or inside a run of at most 7 one-bits
 *             from the root (a prefix of EOS, the only legal padding)
 *   FAIL      the nibble completed EOS
 */
const EMIT = 1 << 16;
const ACCEPT = 1 << 17;
const FAIL = 1 << 18;

const DECODE_TABLE: Uint32Array = (() => {
  // child[2 * node + bit]: > 0 an internal node, < 0 the leaf of symbol -child - 1, 0 unset
  // (the root is never a child).
  const child = new Int16Array(2 * 256);
  const depth = new Uint8Array(256);
  const allOnes = new Uint8Array(256);
  allOnes[0] = 1;
  let nodes = 1;
  for (let s = 0; s <= EOS; s++) {
    const code = HUFFMAN_CODES[s]!;
    const len = HUFFMAN_LENGTHS[s]!;
    let node = 0;
    for (let i = len - 1; i > 0; i--) {
      const bit = (code >>> i) & 1;
      let next = child[2 * node + bit]!;
      if (next < 0) throw new Error(`HPACK Huffman table: code of ${s} extends a shorter code`);
      if (next === 0) {
        next = nodes++;
        child[2 * node + bit] = next;
        depth[next] = depth[node]! + 1;
        allOnes[next] = allOnes[node]! & bit;
      }
      node = next;
    }
    const slot = 2 * node + (code & 1);
    if (child[slot] !== 0) throw new Error(`HPACK Huffman table: code of ${s} is not a leaf`);
    child[slot] = -s - 1;
  }
  if (nodes !== 256 || child.includes(0)) throw new Error('HPACK Huffman table: code incomplete');

  const table = new Uint32Array(256 * 16);
  for (let state = 0; state < 256; state++) {
    for (let nibble = 0; nibble < 16; nibble++) {
      let node = state;
      let entry = 0;
      for (let b = 3; b >= 0; b--) {
        const next = child[2 * node + ((nibble >> b) & 1)]!;
        if (next > 0) {
          node = next;
          continue;
        }
        const symbol = -next - 1;
        if (symbol === EOS) {
          entry = FAIL;
          break;
        }
        entry = EMIT | (symbol << 8);
        node = 0;
      }
      if (entry !== FAIL && (node === 0 || (allOnes[node] === 1 && depth[node]! <= 7))) {
        entry |= ACCEPT;
      }
      table[(state << 4) | nibble] = entry | node;
    }
  }
  return table;
})();

/** Scratch output for {@link huffmanDecode}; grown on demand, reused across calls. */
let scratch = Buffer.allocUnsafeSlow(1024);

/**
 * Decodes the Huffman-coded octets `src[start..end)` to a latin1 string. Throws HpackError
 * when the input holds EOS, or ends in padding longer than 7 bits or not all ones.
 */
export function huffmanDecode(src: Uint8Array, start: number, end: number): string {
  // Every code is at least 5 bits, so n octets decode to at most 8n/5 symbols.
  const max = ((end - start) * 8) / 5;
  if (scratch.length < max) scratch = Buffer.allocUnsafeSlow(Math.max(max, 2 * scratch.length));
  const out = scratch;
  let n = 0;
  let state = 0;
  let entry = ACCEPT;
  for (let i = start; i < end; i++) {
    const octet = src[i]!;
    entry = DECODE_TABLE[(state << 4) | (octet >> 4)]!;
    if ((entry & (EMIT | FAIL)) !== 0) {
      if ((entry & FAIL) !== 0) throw new HpackError('Huffman string contains EOS');
      out[n++] = entry >> 8;
    }
    state = entry & 0xff;
    entry = DECODE_TABLE[(state << 4) | (octet & 0xf)]!;
    if ((entry & (EMIT | FAIL)) !== 0) {
      if ((entry & FAIL) !== 0) throw new HpackError('Huffman string contains EOS');
      out[n++] = entry >> 8;
    }
    state = entry & 0xff;
  }
  if ((entry & ACCEPT) === 0) {
    throw new HpackError('Huffman string ends in invalid padding (longer than 7 bits or not EOS)');
  }
  return out.toString('latin1', 0, n);
}

/** Octets the Huffman coding of `s` (one symbol per char, latin1) takes. */
export function huffmanEncodedLength(s: string): number {
  let bits = 0;
  for (let i = 0; i < s.length; i++) bits += HUFFMAN_LENGTHS[s.charCodeAt(i) & 0xff]!;
  return (bits + 7) >>> 3;
}

/**
 * Writes the Huffman coding of `s` (one symbol per char, latin1) into `out` at `offset`,
 * padded with the leading bits of EOS; returns the offset after it. `out` must have room for
 * {@link huffmanEncodedLength}(s) octets.
 */
export function huffmanEncode(s: string, out: Uint8Array, offset: number): number {
  let pos = offset;
  let acc = 0; // pending bits, at most 7 + 30, kept in a double (exact below 2^53)
  let bits = 0;
  for (let i = 0; i < s.length; i++) {
    const symbol = s.charCodeAt(i) & 0xff;
    const len = HUFFMAN_LENGTHS[symbol]!;
    acc = acc * 2 ** len + HUFFMAN_CODES[symbol]!;
    bits += len;
    while (bits >= 8) {
      bits -= 8;
      const scale = 2 ** bits;
      const octet = Math.floor(acc / scale);
      out[pos++] = octet;
      acc -= octet * scale;
    }
  }
  if (bits > 0) out[pos++] = (acc << (8 - bits)) | (0xff >> bits);
  return pos;
}
