/**
 * @module
 * gunzip fed by pushes instead of pulled from a source: each compressed
 * chunk is written with a callback that runs once zlib has consumed all of
 * it, so the writer may then reuse the chunk's memory (the apply worker's
 * shared ring, src/diff/apply-channel.ts). The output is read by async
 * iteration, in CHUNK_SIZE chunks; inflating runs on libuv's pool, off the
 * reading thread. Memory is bounded: zlib stops inflating while READ_AHEAD
 * bytes of output wait to be read, even within one input chunk, so a
 * decompression bomb costs time only.
 */
import type { TransformOptions } from 'node:stream';
import { createGunzip, type Gunzip, type ZlibOptions } from 'node:zlib';
import { invalidArgument } from '../core/errdefs/index.js';
import { CHUNK_SIZE } from './compression.js';

/** Output decoded ahead of the reader (as the pull side's codecs, compression.ts). */
const READ_AHEAD = 4 * CHUNK_SIZE;

export class GunzipFeed implements AsyncIterable<Buffer> {
  readonly #gunzip: Gunzip = createGunzip({
    chunkSize: CHUNK_SIZE,
    readableHighWaterMark: READ_AHEAD,
  } as ZlibOptions & TransformOptions);
  /** The reason given to destroy(): passed through as it is, not as a gzip error. */
  #stopped: unknown;

  constructor() {
    // Errors surface through the iteration; without a listener an error
    // before it starts would be thrown as uncaught.
    this.#gunzip.on('error', () => {});
  }

  /**
   * Queues `chunk`; `consumed` runs once zlib is done with it (or with an
   * error, once it never will be). The caller bounds how much it queues.
   */
  write(chunk: Uint8Array, consumed: () => void): void {
    if (this.#gunzip.destroyed) {
      consumed();
      return;
    }
    this.#gunzip.write(chunk, () => consumed());
  }

  /** No more input: the output ends once the last chunk is inflated. */
  end(): void {
    if (!this.#gunzip.destroyed) this.#gunzip.end();
  }

  /** Stops inflating; the iteration fails with `reason`. */
  destroy(reason: Error): void {
    this.#stopped ??= reason;
    this.#gunzip.destroy(reason);
  }

  /** The decompressed bytes; a corrupt or truncated stream fails with `invalid_argument` ("gzip: …"). */
  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer, void, undefined> {
    try {
      for await (const chunk of this.#gunzip) yield chunk as Buffer;
    } catch (err) {
      if (this.#stopped !== undefined) throw this.#stopped;
      throw invalidArgument(`gzip: ${(err as Error).message}`, { cause: err });
    } finally {
      this.#gunzip.destroy();
    }
  }
}
