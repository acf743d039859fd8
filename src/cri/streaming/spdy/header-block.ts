import { invalidArgument } from '../../../core/errdefs/index.js';

/**
 * A SPDY/3 name/value header block, uncompressed (SPDY protocol draft 3, section 2.6.10): a 32-bit count, then per
 * header a 32-bit length and the lower-case name, a 32-bit length and the value; several values of one name are
 * joined by NUL bytes.
 */
export type Headers = Record<string, string[]>;

export function encodeHeaderBlock(headers: Headers): Buffer {
  const entries = Object.entries(headers);
  const parts: Buffer[] = [];
  const count = Buffer.allocUnsafe(4);
  count.writeUInt32BE(entries.length);
  parts.push(count);
  for (const [name, values] of entries) {
    const n = Buffer.from(name.toLowerCase(), 'utf8');
    const v = Buffer.from(values.join('\0'), 'utf8');
    const nl = Buffer.allocUnsafe(4);
    nl.writeUInt32BE(n.length);
    const vl = Buffer.allocUnsafe(4);
    vl.writeUInt32BE(v.length);
    parts.push(nl, n, vl, v);
  }
  return Buffer.concat(parts);
}

/**
 * Decodes a header block. Names must be lower case and appear once, as the spec requires (invalid_argument
 * otherwise, as for truncated blocks).
 */
export function decodeHeaderBlock(block: Buffer): Headers {
  let off = 0;
  const u32 = (what: string): number => {
    if (off + 4 > block.length) throw invalidArgument(`spdy header block: truncated ${what}`);
    const v = block.readUInt32BE(off);
    off += 4;
    return v;
  };
  const bytes = (n: number, what: string): string => {
    if (off + n > block.length) throw invalidArgument(`spdy header block: truncated ${what}`);
    const s = block.toString('utf8', off, off + n);
    off += n;
    return s;
  };
  const count = u32('count');
  const headers: Headers = Object.create(null);
  for (let i = 0; i < count; i++) {
    const name = bytes(u32('name length'), 'name');
    const value = bytes(u32('value length'), 'value');
    if (name.length === 0) throw invalidArgument('spdy header block: empty header name');
    if (name !== name.toLowerCase())
      throw invalidArgument(`spdy header block: header "${name}" is not lower case`);
    if (headers[name] !== undefined)
      throw invalidArgument(`spdy header block: header "${name}" appears twice`);
    headers[name] = value.split('\0');
  }
  if (off !== block.length) throw invalidArgument('spdy header block: bytes after the last header');
  return headers;
}

/** The first value of a header, looked up case-insensitively (names are lower case on the wire). */
export function headerValue(headers: Headers, name: string): string | undefined {
  return headers[name.toLowerCase()]?.[0];
}
