import type { ContentStore } from '../core/content/index.js';
import { isFailedPrecondition, isNotFound } from '../core/errdefs/index.js';
import type { Logger } from '../core/log/index.js';
import type { OpContext } from '../core/namespaces/index.js';
import type { SnapshotInfo, Snapshotter } from '../core/snapshots/index.js';
import type { MetadataDB } from './db.js';

/*
 * Cleaning the backends after a sweep, outside the write lock (containerd's
 * cleanupContent and cleanupSnapshotter). Each removal is checked against
 * the records right before it is issued, with no await in between: an
 * operation may have recorded the digest or key since the sweep ended.
 */

/** What the collector needs of a namespaced snapshotter. */
export interface GcSnapshotter {
  /** The name records and lease resources use (`snapshots/<name>`). */
  readonly name: string;
  readonly backend: Snapshotter;
  /** Backend keys operations are creating or using right now: roots, never removed. */
  inFlight(): ReadonlySet<string>;
}

/** Aborts the backend ingests the sweep expired (already gone: fine). */
export async function abortIngests(
  ctx: OpContext,
  backend: ContentStore,
  refs: readonly string[],
): Promise<void> {
  for (const ref of refs) {
    await backend.abort(ctx, ref).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
  }
}

/**
 * Deletes from the content backend every blob no namespace records
 * (`live` is what the sweep left), skipping digests being committed.
 * Returns how many were deleted.
 */
export async function removeUnrecordedBlobs(
  ctx: OpContext,
  mdb: MetadataDB,
  backend: ContentStore,
  live: ReadonlySet<string>,
  committing: () => ReadonlySet<string>,
): Promise<number> {
  const recorded = mdb.prepare('SELECT 1 FROM content_blobs WHERE digest = ? LIMIT 1');
  let removed = 0;
  for (const blob of await backend.list(ctx)) {
    if (live.has(blob.digest)) continue;
    if (committing().has(blob.digest) || recorded.get(blob.digest)) continue;
    await backend.delete(ctx, blob.digest).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
    removed++;
  }
  return removed;
}

/**
 * Removes from `sn`'s backend every snapshot no record names and no
 * operation has in flight, children first (a parent with a live child
 * stays: the backend refuses, and that is logged), then runs its Cleanup.
 * Returns how many were removed.
 */
export async function removeUnrecordedSnapshots(
  ctx: OpContext,
  mdb: MetadataDB,
  sn: GcSnapshotter,
  log: Logger,
): Promise<number> {
  const infos = await sn.backend.list(ctx);
  const byName = new Set(infos.map((i) => i.name));
  const children = new Map<string, SnapshotInfo[]>();
  const roots: SnapshotInfo[] = [];
  for (const info of infos) {
    if (info.parent === '' || !byName.has(info.parent)) roots.push(info);
    else children.set(info.parent, [...(children.get(info.parent) ?? []), info]);
  }
  const recorded = mdb.prepare(
    'SELECT 1 FROM snapshots WHERE snapshotter = ? AND backend_id = ? LIMIT 1',
  );
  let removed = 0;
  const prune = async (info: SnapshotInfo): Promise<void> => {
    for (const child of children.get(info.name) ?? []) await prune(child);
    if (recorded.get(sn.name, info.name) || sn.inFlight().has(info.name)) return;
    try {
      await sn.backend.remove(ctx, info.name);
      removed++;
    } catch (err) {
      if (isNotFound(err)) return;
      if (!isFailedPrecondition(err)) throw err;
      log.warn({ err, snapshotter: sn.name, key: info.name }, 'failed to remove snapshot');
    }
  };
  for (const root of roots) await prune(root);
  if (sn.backend.cleanup) {
    await sn.backend.cleanup(ctx).catch((err: unknown) => {
      log.warn({ err, snapshotter: sn.name }, 'snapshotter cleanup failed');
    });
  }
  return removed;
}
