import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import { digestHex } from '../core/content/index.js';

/**
 * containerd's content layout under `<berth root>/io.containerd.content.v1.content`:
 *
 * ```
 * blobs/sha256/<hex>                 committed blobs, read-only (0444)
 * ingest/<sha256 hex of ref>/        one in-progress write per ref:
 *   data                             the bytes so far; its size is the offset
 *   ref                              the ref, verbatim
 *   startedat, updatedat             RFC 3339 nano timestamps (timestamp.ts)
 *   total                            expected size in decimal, if known
 *   expected                         expected digest, if known (berth's addition)
 * ingest/.new-<random>/              an ingest being created (renamed into place)
 * ```
 */
export interface Layout {
  /** The store root, absolute. */
  readonly root: string;
  /** `blobs/sha256`. */
  readonly blobs: string;
  /** `ingest`. */
  readonly ingests: string;
  /** The blob file of a digest; `invalid_argument` for a bad digest. */
  blobPath(digest: string): string;
  /** The ingest directory of a ref. */
  ingestDir(ref: string): string;
}

/** Prefix of ingest directories under construction. */
export const NEW_INGEST_PREFIX = '.new-';

/** Names of blob files and ingest directories: 64 lower-case hex digits. */
export const HEX64 = /^[a-f0-9]{64}$/;

export function layout(root: string): Layout {
  const abs = resolve(root);
  const blobs = join(abs, 'blobs', 'sha256');
  const ingests = join(abs, 'ingest');
  return {
    root: abs,
    blobs,
    ingests,
    blobPath: (digest) => join(blobs, digestHex(digest)),
    // Hashing keeps ingest paths fixed-length whatever the ref holds.
    ingestDir: (ref) => join(ingests, createHash('sha256').update(ref).digest('hex')),
  };
}
