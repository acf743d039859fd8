import { DynamicTable, ENTRY_OVERHEAD } from './dynamic-table.js';
import { HpackError } from './errors.js';
import { huffmanDecode } from './huffman.js';
import { STATIC_TABLE } from './static-table.js';
import type { HeaderField } from './types.js';

/** RFC 7540 §6.5.2 default for SETTINGS_HEADER_TABLE_SIZE. */
const DEFAULT_TABLE_SIZE = 4096;
const DEFAULT_LIST_SIZE = 64 * 1024;
/** Integers above this are rejected (no HPACK quantity needs more). */
const MAX_INTEGER = 0x7fffffff;
/** Continuation octets after a full prefix: 5 carry up to 35 bits, enough for MAX_INTEGER. */
const MAX_CONTINUATION_SHIFT = 28;
const STATIC_COUNT = STATIC_TABLE.length;
const EMPTY = Buffer.alloc(0);

export interface HpackDecoderOptions {
  /** The SETTINGS_HEADER_TABLE_SIZE we advertise: the dynamic table's initial and largest size. */
  maxTableSize?: number;
  /** Bound on the decoded header list: sum of name + value + 32 per field (RFC 7540 §6.5.2). */
  maxListSize?: number;
}

/**
 * HPACK decoder for one HTTP/2 connection's header blocks in one direction (RFC 7541 §3).
 * Holds the dynamic table, so blocks must be decoded in the order they arrived; after an
 * HpackError the table no longer matches the peer's and the connection must end.
 */
export class HpackDecoder {
  private readonly table: DynamicTable;
  private readonly maxTableSize: number;
  private readonly maxListSize: number;
  // Decoding cursor, valid during decode() only.
  private src: Buffer = EMPTY;
  private pos = 0;
  private end = 0;

  constructor(opts: HpackDecoderOptions = {}) {
    this.maxTableSize = checkSize('maxTableSize', opts.maxTableSize ?? DEFAULT_TABLE_SIZE);
    this.maxListSize = checkSize('maxListSize', opts.maxListSize ?? DEFAULT_LIST_SIZE);
    this.table = new DynamicTable(this.maxTableSize);
  }

  /**
   * Decodes one complete header block (HEADERS plus any CONTINUATION fragments, joined),
   * updating the dynamic table. Throws HpackError on malformed input or when the list
   * exceeds maxListSize.
   */
  decode(block: Uint8Array): HeaderField[] {
    this.src = Buffer.isBuffer(block)
      ? block
      : Buffer.from(block.buffer, block.byteOffset, block.byteLength);
    this.pos = 0;
    this.end = block.length;
    try {
      return this.fields();
    } finally {
      this.src = EMPTY;
    }
  }

  private fields(): HeaderField[] {
    const src = this.src;
    const out: HeaderField[] = [];
    let listSize = 0;
    while (this.pos < this.end) {
      const first = src[this.pos]!;
      let field: HeaderField;
      if (first >= 0x80) {
        // §6.1 Indexed Header Field: 1xxxxxxx
        field = this.lookup(this.integer(7));
      } else if (first >= 0x40) {
        // §6.2.1 Literal with Incremental Indexing: 01xxxxxx
        field = this.literal(6);
        this.table.add(field);
      } else if (first >= 0x20) {
        // §6.3 Dynamic Table Size Update: 001xxxxx, only before the first field (§4.2)
        if (out.length > 0) {
          throw new HpackError('dynamic table size update after the start of the header block');
        }
        const size = this.integer(5);
        if (size > this.maxTableSize) {
          throw new HpackError(
            `dynamic table size update to ${size} exceeds the advertised ${this.maxTableSize}`,
          );
        }
        this.table.setMaxSize(size);
        continue;
      } else {
        // §6.2.2 without Indexing (0000xxxx), §6.2.3 Never Indexed (0001xxxx)
        field = this.literal(4);
      }
      listSize += field[0].length + field[1].length + ENTRY_OVERHEAD;
      if (listSize > this.maxListSize) {
        throw new HpackError(`header list exceeds maxListSize (${this.maxListSize} octets)`);
      }
      out.push(field);
    }
    return out;
  }

  /** A literal field whose name index has an n-bit prefix (0: the name follows as a string). */
  private literal(prefixBits: number): HeaderField {
    const index = this.integer(prefixBits);
    const name = index === 0 ? this.string() : this.lookup(index)[0];
    return [name, this.string()];
  }

  /** The field at HPACK index `index` (§2.3.3). */
  private lookup(index: number): HeaderField {
    if (index <= STATIC_COUNT) {
      if (index === 0) throw new HpackError('header field index 0');
      return STATIC_TABLE[index - 1]!;
    }
    const field = this.table.get(index - STATIC_COUNT - 1);
    if (field === undefined) {
      throw new HpackError(
        `header field index ${index} beyond the tables (${STATIC_COUNT} static + ${this.table.length} dynamic)`,
      );
    }
    return field;
  }

  /** An integer with an n-bit prefix starting at the current octet (§5.1). */
  private integer(prefixBits: number): number {
    const src = this.src;
    const mask = (1 << prefixBits) - 1;
    let value = src[this.pos++]! & mask;
    if (value < mask) return value;
    let shift = 0;
    for (;;) {
      if (this.pos >= this.end) throw new HpackError('integer runs past the end of the block');
      const octet = src[this.pos++]!;
      value += (octet & 0x7f) * 2 ** shift;
      if (octet < 0x80) break;
      shift += 7;
      if (shift > MAX_CONTINUATION_SHIFT) throw new HpackError('integer has too many octets');
    }
    if (value > MAX_INTEGER) throw new HpackError(`integer ${value} exceeds 2^31 - 1`);
    return value;
  }

  /** A string literal (§5.2): H flag, 7-bit-prefix length, then raw or Huffman octets. */
  private string(): string {
    if (this.pos >= this.end) throw new HpackError('string literal missing at end of block');
    const huffman = this.src[this.pos]! >= 0x80;
    const length = this.integer(7);
    const start = this.pos;
    if (length > this.end - start) {
      throw new HpackError(`string literal of ${length} octets runs past the end of the block`);
    }
    this.pos = start + length;
    return huffman
      ? huffmanDecode(this.src, start, this.pos)
      : this.src.toString('latin1', start, this.pos);
  }
}

function checkSize(what: string, n: number): number {
  if (!Number.isSafeInteger(n) || n < 0)
    throw new RangeError(`HPACK ${what} must be a size, got ${n}`);
  return n;
}
