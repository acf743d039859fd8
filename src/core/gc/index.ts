/**
 * @module gc
 * Garbage collection: mark from the roots (image targets, leases,
 * `containerd.io/gc.root`, containers and their snapshots), follow
 * `containerd.io/gc.ref.*` labels, sweep the rest.
 */

/** Labels garbage collection reads (containerd's). */
export const GC_ROOT_LABEL = 'containerd.io/gc.root';
export const GC_REF_CONTENT_PREFIX = 'containerd.io/gc.ref.content';
export const GC_REF_SNAPSHOT_PREFIX = 'containerd.io/gc.ref.snapshot.';
export const GC_EXPIRE_LABEL = 'containerd.io/gc.expire';

export interface GcStats {
  /** Blobs, ingests and leases removed, per kind. */
  removed: Record<string, number>;
  /** Nanoseconds the mark-and-sweep held the metadata write lock. */
  pauseNanos: bigint;
}

/**
 * Runs garbage collection. Deletions call `schedule()`: a collection soon,
 * coalesced with others. Sync deletes call `collect()`: one that starts
 * after the call and has finished when the promise resolves.
 */
export interface GcScheduler {
  schedule(): void;
  collect(): Promise<GcStats>;
}
