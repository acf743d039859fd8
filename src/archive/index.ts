/**
 * @module
 * Layer archives: a streaming tar reader and writer of our own (binary-safe
 * PAX xattrs, bounded memory, strict checks), layer media types and
 * (de)compression, and a digesting pass-through. Path policy (containment,
 * whiteouts) is not here: the differ applies it to the names the reader returns.
 */
export {
  CHUNK_SIZE,
  type CompressOptions,
  compress,
  type DecompressOptions,
  decompress,
  decompressStream,
  layerStreamCompression,
} from './compression.js';
export { DigestStream } from './digest-stream.js';
export { GunzipFeed } from './gunzip-feed.js';
export {
  type Compression,
  detectCompression,
  type LayerCompression,
  layerCompression,
  MEDIA_TYPES,
} from './media-types.js';
export type { TarEntryType, TarHeader, TarTime } from './tar/header.js';
export {
  DEFAULT_MAX_META_SIZE,
  type ReadTarOptions,
  readTar,
  type TarEntry,
} from './tar/reader.js';
export {
  encodeHeader,
  type TarBody,
  type TarWriteEntry,
  type TarWriteHeader,
  TarWriter,
  writeTar,
} from './tar/writer.js';
