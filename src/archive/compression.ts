/**
 * @module
 * Layer decompression (and gzip compression for the layers berth makes).
 *
 * gzip is node:zlib with 256 KiB output chunks (its default 16 KiB halves
 * throughput); zstd is node:zlib where it exists, else `zstd -dc` (see
 * zstd.ts). Memory is bounded by the chunk sizes: a decompression bomb only
 * costs time, and disk in whoever stores the output.
 */
import type { TransformOptions } from 'node:stream';
import { createGunzip, createGzip, type ZlibOptions, constants as zlibConstants } from 'node:zlib';
import { asBuffer } from '../core/any/index.js';
import { notImplemented } from '../core/errdefs/index.js';
import { type Compression, detectCompression, layerCompression } from './media-types.js';
import { through } from './transform.js';
import { decompressZstd } from './zstd.js';

/** Output chunk size of the codecs. */
export const CHUNK_SIZE = 256 * 1024;

/**
 * Codec options: 256 KiB chunks, and up to four of them decoded ahead of the
 * consumer. With Node's default 16 KiB high-water mark a codec stops after
 * each chunk until it is read, so inflating (on the threadpool) and parsing
 * (on the main thread) take turns instead of overlapping.
 */
const CODEC: ZlibOptions & TransformOptions = {
  chunkSize: CHUNK_SIZE,
  readableHighWaterMark: 4 * CHUNK_SIZE,
};

/** Bytes containerd peeks at to sniff the compression. */
const SNIFF_BYTES = 10;

export interface DecompressOptions {
  readonly signal?: AbortSignal;
  /** Tests only: run `zstd -dc` even where node:zlib has zstd. */
  readonly zstd?: 'auto' | 'spawn';
}

/**
 * The uncompressed bytes of a layer blob of `mediaType`. Refused media types
 * (see media-types.ts: `+encrypted`, unknown types) throw at once,
 * synchronously; corrupt data throws `invalid_argument` while iterating;
 * errors of `source` pass through unchanged. Stopping early returns `source`.
 */
export function decompress(
  mediaType: string,
  source: AsyncIterable<Uint8Array>,
  opts: DecompressOptions = {},
): AsyncGenerator<Buffer, void, undefined> {
  const plan = layerCompression(mediaType);
  return decompressStream(plan.sniff ? 'detect' : plan.declared, source, opts);
}

/** Decompresses `source` as `compression`, or as its first bytes say for `detect`. */
export async function* decompressStream(
  compression: Compression | 'detect',
  source: AsyncIterable<Uint8Array>,
  opts: DecompressOptions = {},
): AsyncGenerator<Buffer, void, undefined> {
  const { signal } = opts;
  signal?.throwIfAborted();
  let input = source;
  if (compression === 'detect') {
    const peeked = await peek(source, SNIFF_BYTES);
    input = peeked.rest;
    compression = detectCompression(peeked.head);
  }
  switch (compression) {
    case 'none':
      for await (const chunk of input) {
        signal?.throwIfAborted();
        yield asBuffer(chunk);
      }
      return;
    case 'gzip':
      yield* through(input, createGunzip(CODEC), 'gzip', signal);
      return;
    case 'zstd':
      yield* decompressZstd(input, CODEC, signal, opts.zstd);
      return;
  }
}

/**
 * How a layer of `mediaType` is to be decompressed: as its first bytes say
 * where the media type asks for sniffing (as decompress() does), else as
 * declared; with `source` again from its first byte. Refused media types
 * throw at once.
 */
export async function layerStreamCompression(
  mediaType: string,
  source: AsyncIterable<Uint8Array>,
): Promise<{ compression: Compression; source: AsyncIterable<Uint8Array> }> {
  const plan = layerCompression(mediaType);
  if (!plan.sniff) return { compression: plan.declared, source };
  const peeked = await peek(source, SNIFF_BYTES);
  return { compression: detectCompression(peeked.head), source: peeked.rest };
}

export interface CompressOptions {
  /** zlib level, 0…9 (default zlib's, 6). */
  readonly level?: number;
  readonly signal?: AbortSignal;
}

/**
 * Compresses `source` with gzip. The output depends only on the input and the
 * level (no name, mtime 0 in the gzip header), so a layer's digest is stable.
 */
export function compress(
  compression: Compression,
  source: AsyncIterable<Uint8Array>,
  opts: CompressOptions = {},
): AsyncGenerator<Buffer, void, undefined> {
  if (compression !== 'gzip') throw notImplemented(`compression "${compression}" for writing`);
  const level = opts.level ?? zlibConstants.Z_DEFAULT_COMPRESSION;
  return through(source, createGzip({ ...CODEC, level }), 'gzip', opts.signal);
}

/**
 * Reads at least `n` bytes of `source` (fewer if it is shorter) and gives
 * them back with a stream that yields them again, then the rest of `source`.
 */
async function peek(
  source: AsyncIterable<Uint8Array>,
  n: number,
): Promise<{ head: Buffer; rest: AsyncIterable<Uint8Array> }> {
  const it = source[Symbol.asyncIterator]();
  const held: Uint8Array[] = [];
  let length = 0;
  let ended = false;
  while (length < n) {
    const r = await it.next();
    if (r.done) {
      ended = true;
      break;
    }
    held.push(r.value);
    length += r.value.length;
  }
  async function* rest(): AsyncGenerator<Uint8Array, void, undefined> {
    try {
      yield* held.splice(0);
      while (!ended) {
        const r = await it.next();
        if (r.done) ended = true;
        else yield r.value;
      }
    } finally {
      if (!ended) {
        ended = true;
        await it.return?.();
      }
    }
  }
  return { head: Buffer.concat(held), rest: rest() };
}
