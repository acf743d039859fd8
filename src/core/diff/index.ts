/**
 * @module diff
 * The differ contract, containerd's `diff.Applier` and `diff.Comparer`:
 * Apply unpacks a layer blob into mounts; Compare makes a layer blob from the
 * difference between two sets of mounts. Both take and return OCI
 * descriptors; mounts are containerd's values (performing them is the
 * implementation's job, and it never leaves one behind).
 *
 * Errors: `not_implemented` for media types that cannot be applied
 * (`+encrypted`, unknown types) or written; `invalid_argument` for a layer
 * that is corrupt or tries to reach outside its target (the message names
 * the entry); `failed_precondition` for a diffID that does not match the one
 * the descriptor or the blob's labels promise; `not_found` for a missing
 * blob. On failure Apply may leave the target half-written: the caller
 * removes the snapshot, as containerd's unpacker does.
 */
import type { Descriptor } from '../content/index.js';
import type { Labels } from '../labels/index.js';
import type { Mount } from '../mount/index.js';
import type { OpContext } from '../namespaces/index.js';

/** The label (and annotation) that names a compressed blob's uncompressed digest. */
export const UNCOMPRESSED_LABEL = 'containerd.io/uncompressed';

export interface ApplyOptions {
  /** Stream-processor payloads by media type (containerd's `payloads`); berth has no processors. */
  payloads?: Readonly<Record<string, Uint8Array>>;
  /** Sync the target filesystem before returning (containerd 2.0's `sync_fs`). */
  syncFs?: boolean;
}

export interface Applier {
  /**
   * Applies the layer `desc` (read from the content store of the context's
   * namespace) onto `mounts`, and returns the descriptor of what was applied:
   * mediaType `application/vnd.oci.image.layer.v1.tar`, digest = the diffID
   * (sha256 of the uncompressed tar), size = uncompressed bytes.
   */
  apply(
    ctx: OpContext,
    desc: Descriptor,
    mounts: Mount[],
    opts?: ApplyOptions,
  ): Promise<Descriptor>;
  /**
   * Optional: an Apply of `desc` is coming soon (its blob is still being
   * fetched); the applier may get ready for it meanwhile. No effect on results.
   */
  warm?(desc: Descriptor): void;
}

export interface CompareOptions {
  /** Layer media type to write; default `application/vnd.oci.image.layer.v1.tar+gzip`. */
  mediaType?: string;
  /** Content ingest ref; default a random one. */
  ref?: string;
  /** Labels of the committed blob (`containerd.io/uncompressed` is added). */
  labels?: Labels;
}

export interface Comparer {
  /**
   * Writes to the content store a layer holding what changed from `lower`
   * to `upper` (whiteouts for deletions) and returns its descriptor.
   */
  compare(
    ctx: OpContext,
    lower: Mount[],
    upper: Mount[],
    opts?: CompareOptions,
  ): Promise<Descriptor>;
}
