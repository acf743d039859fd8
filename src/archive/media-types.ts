/**
 * @module
 * Layer media types and their compression, with containerd 1.6's rules
 * (images.DiffCompression and archive/compression.DecompressStream):
 *
 * | media type | containerd | berth |
 * |---|---|---|
 * | OCI `…layer.v1.tar`, `…layer.nondistributable.v1.tar` | read as is | same |
 * | OCI `…+gzip`, `…+zstd` (and nondistributable) | sniffed: the magic bytes decide | same |
 * | Docker `…rootfs.diff.tar.gzip`, `…rootfs.foreign.diff.tar.gzip` | sniffed | same |
 * | Docker `…rootfs.diff.tar`, `…rootfs.foreign.diff.tar` | sniffed ("may have been compressed") | same |
 * | any `+encrypted` | needs a stream processor (imgcrypt) | refused, `not_implemented` |
 * | a layer type with another `+suffix` (`+lz4`, wrapped Docker types) | read as is | refused, `not_implemented` |
 * | anything else | `not_implemented` | `not_implemented` |
 * | empty | `not_implemented` | `invalid_argument` |
 *
 * Sniffing follows the bytes, not the name: gzip (`1f 8b 08`), zstd (frame
 * magic `28 b5 2f fd`, or a skippable frame `0x184D2A5?` little-endian),
 * otherwise uncompressed. So an OCI `+gzip` layer that is really plain tar
 * unpacks, as in containerd; its diffID still has to match.
 */
import { invalidArgument, notImplemented } from '../core/errdefs/index.js';

export const MEDIA_TYPES = {
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociLayerNonDistributable: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  ociLayerNonDistributableGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  ociLayerNonDistributableZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerLayerForeign: 'application/vnd.docker.image.rootfs.foreign.diff.tar',
  dockerLayerForeignGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
} as const;

export type Compression = 'none' | 'gzip' | 'zstd';

/** How to decompress a layer: the compression its media type declares, and whether the bytes decide. */
export interface LayerCompression {
  readonly declared: Compression;
  /** True: detect the compression from the first bytes, as containerd does. */
  readonly sniff: boolean;
}

const OCI_BASES: ReadonlySet<string> = new Set([
  MEDIA_TYPES.ociLayer,
  MEDIA_TYPES.ociLayerNonDistributable,
]);
const DOCKER_TYPES: ReadonlyMap<string, Compression> = new Map([
  [MEDIA_TYPES.dockerLayer, 'none'],
  [MEDIA_TYPES.dockerLayerForeign, 'none'],
  [MEDIA_TYPES.dockerLayerGzip, 'gzip'],
  [MEDIA_TYPES.dockerLayerForeignGzip, 'gzip'],
]);

/** The compression of a layer media type; throws for refused types (see the table above). */
export function layerCompression(mediaType: string): LayerCompression {
  if (mediaType === '') throw invalidArgument('layer media type is empty');
  const [base = '', ...suffixes] = mediaType.split('+');
  if (suffixes.includes('encrypted')) {
    throw notImplemented(`layer media type "${mediaType}": encrypted layers are not supported`);
  }
  if (OCI_BASES.has(base)) {
    if (suffixes.length === 0) return { declared: 'none', sniff: false };
    if (suffixes.length === 1 && (suffixes[0] === 'gzip' || suffixes[0] === 'zstd')) {
      return { declared: suffixes[0], sniff: true };
    }
  }
  const docker = DOCKER_TYPES.get(base);
  if (docker && suffixes.length === 0) return { declared: docker, sniff: true };
  if (docker || OCI_BASES.has(base)) {
    throw notImplemented(`layer media type "${mediaType}": unsupported compression or wrapping`);
  }
  throw notImplemented(`unrecognised layer media type "${mediaType}"`);
}

/** The compression the first bytes of a stream show (at least 8 bytes for zstd skippable frames). */
export function detectCompression(head: Uint8Array): Compression {
  if (head[0] === 0x1f && head[1] === 0x8b && head[2] === 0x08) return 'gzip';
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  if (head.length >= 8) {
    const magic = (head[0]! | (head[1]! << 8) | (head[2]! << 16) | (head[3]! << 24)) >>> 0;
    if ((magic & 0xfffffff0) >>> 0 === 0x184d2a50) return 'zstd';
  }
  return 'none';
}
