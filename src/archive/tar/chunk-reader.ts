import { asBuffer } from '../../core/any/index.js';

/**
 * A cursor over an async source of byte chunks: exact reads for headers,
 * zero-copy pieces for bodies, skips. It holds at most one source chunk, so
 * memory is bounded by the source's chunk size, whatever the archive holds.
 *
 * Slices it returns share memory with the source's chunks: the source must
 * not reuse a chunk after yielding it (Node streams never do).
 */
export class ChunkReader {
  readonly #it: AsyncIterator<Uint8Array>;
  #chunk: Buffer = EMPTY;
  #pos = 0;
  #offset = 0;
  #eof = false;
  #busy = false;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.#it = source[Symbol.asyncIterator]();
  }

  /** Bytes consumed so far. */
  get offset(): number {
    return this.#offset;
  }

  /** Up to `max` (> 0) bytes, without copying; empty only at the end of the source. */
  async next(max: number): Promise<Buffer> {
    if (this.#pos >= this.#chunk.length && !(await this.#fill())) return EMPTY;
    const n = Math.min(max, this.#chunk.length - this.#pos);
    const out = this.#chunk.subarray(this.#pos, this.#pos + n);
    this.#advance(n);
    return out;
  }

  /** Exactly `n` contiguous bytes (copied only when they span chunks); fewer only at the end. */
  async read(n: number): Promise<Buffer> {
    if (this.#chunk.length - this.#pos >= n) {
      const out = this.#chunk.subarray(this.#pos, this.#pos + n);
      this.#advance(n);
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let got = 0;
    while (got < n) {
      const part = await this.next(n - got);
      if (part.length === 0) return out.subarray(0, got);
      part.copy(out, got);
      got += part.length;
    }
    return out;
  }

  /** Discards up to `n` bytes; returns how many (fewer only at the end). */
  async skip(n: number): Promise<number> {
    let done = 0;
    while (done < n) {
      const part = await this.next(n - done);
      if (part.length === 0) break;
      done += part.length;
    }
    return done;
  }

  /** Reads the source to its end, discarding; returns how many bytes that was. */
  async drain(): Promise<number> {
    let n = this.#chunk.length - this.#pos;
    this.#advance(n);
    while (await this.#fill()) {
      const len = this.#chunk.length;
      n += len;
      this.#advance(len);
    }
    return n;
  }

  /** Ends the source early if it was not read to its end. Never throws. */
  async close(): Promise<void> {
    if (this.#eof) return;
    this.#eof = true;
    this.#chunk = EMPTY;
    try {
      await this.#it.return?.();
    } catch {
      // The source failing while being closed changes nothing for us.
    }
  }

  #advance(n: number): void {
    this.#pos += n;
    this.#offset += n;
    if (this.#pos >= this.#chunk.length) {
      this.#chunk = EMPTY; // let the chunk go as soon as it is used up
      this.#pos = 0;
    }
  }

  async #fill(): Promise<boolean> {
    if (this.#busy) throw new Error('tar: concurrent reads of one archive');
    this.#busy = true;
    try {
      while (this.#pos >= this.#chunk.length) {
        if (this.#eof) return false;
        const r = await this.#it.next();
        if (r.done) {
          this.#eof = true;
          return false;
        }
        this.#chunk = asBuffer(r.value);
        this.#pos = 0;
      }
      return true;
    } finally {
      this.#busy = false;
    }
  }
}

const EMPTY = Buffer.alloc(0);
