import { constants, deflateRawSync, inflateRawSync } from 'node:zlib';
import { invalidArgument } from '../../../core/errdefs/index.js';
import { HEADER_DICTIONARY } from './dictionary.js';

/**
 * SPDY/3 compresses every header block of one direction of a connection as one zlib stream (with the SPDY
 * dictionary), each block ending at a sync flush. A sync flush leaves the stream byte-aligned at a block boundary,
 * and a deflate stream can refer back at most 32 KiB (the dictionary, then everything decompressed before), so one
 * block is a raw deflate segment over that window: it is compressed and decompressed here on its own, synchronously,
 * with the last 32 KiB of (dictionary ‖ earlier blocks) as the zlib dictionary. The first block of a stream carries
 * the 2-byte zlib header naming the dictionary and the dictionary's Adler-32.
 */
const WINDOW = 32 * 1024;

/** zlib header: CMF 0x78 (deflate, 32 KiB window), FLG 0xf9 (level 9, FDICT, FCHECK). */
const ZLIB_HEADER = Buffer.from([0x78, 0xf9]);
/** The DICTID of SPDY/3's dictionary (its Adler-32). */
const DICTIONARY_ID = 0xe3c6a7c2;

/** The largest decompressed header block accepted. */
export const MAX_HEADER_BLOCK = 256 * 1024;

class Window {
  private history: Buffer = HEADER_DICTIONARY;

  get current(): Buffer {
    return this.history;
  }

  append(plain: Buffer): void {
    if (plain.length === 0) return;
    const joined = Buffer.concat([this.history, plain]);
    this.history = joined.length > WINDOW ? joined.subarray(joined.length - WINDOW) : joined;
  }
}

/** The compressing side of one direction of a SPDY connection. */
export class HeaderCompressor {
  private readonly window = new Window();
  private started = false;

  /** Compresses one (uncompressed) header block; the result is the block as it goes on the wire. */
  compress(block: Buffer): Buffer {
    const body = deflateRawSync(block, {
      level: constants.Z_BEST_COMPRESSION,
      dictionary: this.window.current,
      finishFlush: constants.Z_SYNC_FLUSH,
    });
    this.window.append(block);
    if (this.started) return body;
    this.started = true;
    const id = Buffer.alloc(4);
    id.writeUInt32BE(DICTIONARY_ID);
    return Buffer.concat([ZLIB_HEADER, id, body]);
  }
}

/** The decompressing side of one direction of a SPDY connection. */
export class HeaderDecompressor {
  private readonly window = new Window();
  private started = false;

  /**
   * Decompresses one header block as it came on the wire. Throws invalid_argument for a stream that does not name
   * SPDY's dictionary, corrupt data or a block larger than {@link MAX_HEADER_BLOCK}; the connection cannot go on
   * after that (the stream's state is lost).
   */
  decompress(wire: Buffer): Buffer {
    let body = wire;
    if (!this.started) {
      if (wire.length < 2) throw invalidArgument('spdy header block: truncated zlib header');
      const cmf = wire[0]!;
      const flg = wire[1]!;
      if ((cmf & 0x0f) !== 8 || ((cmf << 8) | flg) % 31 !== 0) {
        throw invalidArgument('spdy header block: not a zlib stream');
      }
      body = wire.subarray(2);
      if (flg & 0x20) {
        if (body.length < 4) throw invalidArgument('spdy header block: truncated dictionary id');
        if (body.readUInt32BE(0) !== DICTIONARY_ID) {
          throw invalidArgument(
            "spdy header block: zlib stream names another dictionary than SPDY/3's",
          );
        }
        body = body.subarray(4);
      }
      this.started = true;
    }
    let plain: Buffer;
    try {
      plain = inflateRawSync(body, {
        dictionary: this.window.current,
        finishFlush: constants.Z_SYNC_FLUSH,
        maxOutputLength: MAX_HEADER_BLOCK,
      });
    } catch (err) {
      throw invalidArgument(`spdy header block: ${(err as Error).message}`, { cause: err });
    }
    this.window.append(plain);
    return plain;
  }
}
