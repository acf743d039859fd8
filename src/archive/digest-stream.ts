import { createHash, type Hash } from 'node:crypto';
import { asBuffer } from '../core/any/index.js';
import { failedPrecondition } from '../core/errdefs/index.js';

/**
 * A pass-through that hashes (sha256) and counts the bytes of `source` as
 * they flow: wrap the compressed blob for its digest, and the decompressed
 * stream for the diffID, in the one streaming pass.
 *
 * Iterable once. `size` counts as it goes; `digest` exists only once the
 * source has been read to its end (a consumer that stops early never gets
 * one, so a partial digest cannot be mistaken for the real one).
 */
export class DigestStream implements AsyncIterable<Buffer> {
  readonly #source: AsyncIterable<Uint8Array>;
  readonly #hash: Hash = createHash('sha256');
  #size = 0;
  #digest: string | undefined;
  #started = false;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.#source = source;
  }

  /** Bytes seen so far. */
  get size(): number {
    return this.#size;
  }

  /** Whether the source was read to its end. */
  get done(): boolean {
    return this.#digest !== undefined;
  }

  /** `sha256:<hex>` of the whole stream; `failed_precondition` before the end. */
  get digest(): string {
    if (this.#digest === undefined) {
      throw failedPrecondition(`digest: stream not read to its end (${this.#size} bytes so far)`);
    }
    return this.#digest;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer, void, undefined> {
    if (this.#started) throw failedPrecondition('digest: stream already read');
    this.#started = true;
    for await (const value of this.#source) {
      const chunk = asBuffer(value);
      this.#hash.update(chunk);
      this.#size += chunk.length;
      yield chunk;
    }
    this.#digest = `sha256:${this.#hash.digest('hex')}`;
  }
}
