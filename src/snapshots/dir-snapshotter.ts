import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { isBerthError, newError } from '../core/errdefs/index.js';
import type { Labels } from '../core/labels/index.js';
import { validateLabels } from '../core/labels/index.js';
import type { Mount } from '../core/mount/index.js';
import type { OpContext } from '../core/namespaces/index.js';
import type {
  Kind,
  SnapshotInfo,
  SnapshotOptions,
  Snapshotter,
  Usage,
} from '../core/snapshots/index.js';
import { nowNanos } from '../core/time/index.js';
import { removeTree } from '../sys/remove-tree.js';
import { MetaStore, type StoredSnapshot } from './metastore.js';
import { diskUsage } from './usage.js';

/**
 * What is common to the directory-based backends (overlayfs, native), as
 * containerd's share snapshots/storage: records in `<root>/metadata.db`
 * ({@link MetaStore}), one directory per snapshot under
 * `<root>/snapshots/<id>`. Keys are taken as they come: namespacing is the
 * metadata layer's job.
 *
 * Crash safety (kill -9 at any point leaves either the old or the new
 * state, plus garbage that {@link DirSnapshotter.cleanup} removes):
 *
 * - Prepare/View build the new directory under `snapshots/new-*`, then in
 *   one transaction insert the record and rename the directory to its id.
 *   A crash before the commit leaves a `new-*` directory (or, after the
 *   rename, a directory whose id has no record); both are garbage.
 * - Commit changes only the record (the directory keeps its id).
 * - Remove deletes the record first, then renames the directory to
 *   `rm-<id>` and deletes it: a crash leaves a directory without record.
 *
 * Directories being built are known in memory, so Cleanup leaves them
 * alone. Every recursive delete goes through `removeTree` inside the root.
 */
export abstract class DirSnapshotter implements Snapshotter {
  protected readonly ms: MetaStore;
  protected readonly snapshotsDir: string;
  /** Temporary directories of creates in flight. */
  private readonly building = new Set<string>();

  constructor(readonly root: string) {
    mkdirSync(root, { recursive: true, mode: 0o700 });
    this.snapshotsDir = join(root, 'snapshots');
    mkdirSync(this.snapshotsDir, { recursive: true, mode: 0o700 });
    this.ms = new MetaStore(join(root, 'metadata.db'));
  }

  /** Whether a snapshot of this kind on this parent chain has a directory of its own. */
  protected abstract needsDirectory(kind: Kind, parentIds: readonly string[]): boolean;
  /** Fills the new directory `dir` before it is renamed to its id. */
  protected abstract populate(dir: string, kind: Kind, parentIds: readonly string[]): Promise<void>;
  /** The mounts of an active snapshot or view, as containerd's backend returns them. */
  protected abstract mountsFor(s: StoredSnapshot): Mount[];
  /** What containerd's backend puts before a Mounts error. */
  protected abstract readonly mountsErrorPrefix: string;
  /** The directory whose usage is this snapshot's own (overlay: the upper dir). */
  protected abstract usagePath(id: string): string;

  /** `<root>/snapshots/<id>`. */
  snapshotDir(id: string): string {
    return join(this.snapshotsDir, id);
  }

  async stat(_ctx: OpContext, key: string): Promise<SnapshotInfo> {
    return this.ms.view(() => this.ms.getInfo(key).info);
  }

  async update(
    _ctx: OpContext,
    info: Pick<SnapshotInfo, 'name' | 'labels'>,
    fieldpaths?: readonly string[],
  ): Promise<SnapshotInfo> {
    return this.ms.update(() => this.ms.updateInfo(info, fieldpaths, nowNanos()));
  }

  async usage(ctx: OpContext, key: string): Promise<Usage> {
    const { id, info, usage } = this.ms.view(() => this.ms.getInfo(key));
    // Committed snapshots keep the usage measured at commit; views own
    // nothing; active ones are measured now.
    if (info.kind !== 'active') return usage;
    return diskUsage(this.usagePath(id), ctx.signal);
  }

  async mounts(_ctx: OpContext, key: string): Promise<Mount[]> {
    const s = prefixed(this.mountsErrorPrefix, () => this.ms.view(() => this.ms.getSnapshot(key)));
    return this.mountsFor(s);
  }

  prepare(ctx: OpContext, key: string, parent = '', opts?: SnapshotOptions): Promise<Mount[]> {
    return this.create(ctx, 'active', key, parent, opts);
  }

  view(ctx: OpContext, key: string, parent = '', opts?: SnapshotOptions): Promise<Mount[]> {
    return this.create(ctx, 'view', key, parent, opts);
  }

  async commit(ctx: OpContext, name: string, key: string, opts?: SnapshotOptions): Promise<void> {
    const labels = opts?.labels ?? {};
    validateLabels(labels, 'info');
    const id = this.ms.view(() => {
      this.ms.getInfo(key);
      return prefixed('failed to commit snapshot', () => this.ms.checkCommit(name, key));
    });
    const usage = await diskUsage(this.usagePath(id), ctx.signal);
    this.ms.update(() => {
      const committed = prefixed('failed to commit snapshot', () =>
        this.ms.commit(name, key, usage, withoutEmpty(labels), nowNanos()),
      );
      if (committed !== id) {
        // The key was removed and prepared again while we measured.
        throw new Error(`snapshot ${JSON.stringify(key)} changed during commit`);
      }
    });
  }

  /**
   * The record goes in a commit that is not fsynced: if a power cut brings
   * it back, its directory is gone or goes with cleanup, and the metadata
   * store, which has no record for it, has the collector remove it again.
   */
  async remove(ctx: OpContext, key: string): Promise<void> {
    const { id } = prefixed('failed to remove', () =>
      this.ms.updateUnsynced(() => this.ms.remove(key)),
    );
    this.discard(ctx, id);
  }

  async list(_ctx: OpContext, filters?: readonly string[]): Promise<SnapshotInfo[]> {
    return this.ms.view(() => this.ms.list(filters));
  }

  /**
   * Removes every directory under `snapshots/` that no record owns and no
   * create in flight is building: what crashes and failed removals left.
   */
  async cleanup(ctx: OpContext): Promise<void> {
    const live = this.ms.view(() => this.ms.ids());
    for (const name of readdirSync(this.snapshotsDir)) {
      const path = join(this.snapshotsDir, name);
      if (live.has(name) || this.building.has(path)) continue;
      try {
        removeTree(path, this.root);
      } catch (err) {
        ctx.log.warn({ err, path }, 'failed to remove snapshot directory');
      }
    }
  }

  close(): void {
    this.ms.close();
  }

  private async create(
    ctx: OpContext,
    kind: Kind,
    key: string,
    parent: string,
    opts: SnapshotOptions | undefined,
  ): Promise<Mount[]> {
    const labels = withoutEmpty(opts?.labels ?? {});
    validateLabels(labels, 'info');
    const parentIds = prefixed('failed to create snapshot', () =>
      this.ms.view(() => this.ms.checkCreate(key, parent)),
    );
    let tmp: string | undefined;
    let stale: string | undefined;
    if (this.needsDirectory(kind, parentIds)) {
      // Made and registered in one synchronous step: a Cleanup running in
      // between must not see it unregistered.
      tmp = mkdtempSync(join(this.snapshotsDir, 'new-'));
      this.building.add(tmp);
    }
    const building = tmp;
    try {
      if (tmp !== undefined) await this.populate(tmp, kind, parentIds);
      // Synced below (off the event loop), before the caller records it.
      const s = this.ms.updateUnsynced(() => {
        const s = prefixed('failed to create snapshot', () =>
          this.ms.create(kind, key, parent, labels, nowNanos()),
        );
        if (tmp !== undefined) {
          const path = this.snapshotDir(s.id);
          // A directory with this id is garbage from a crash between a
          // rename and its commit (ids of rolled back inserts come again).
          if (existsSync(path)) {
            stale = this.doomedPath(s.id);
            renameSync(path, stale);
          }
          renameSync(tmp, path);
        }
        return s;
      });
      tmp = undefined;
      if (stale !== undefined) this.removeQuietly(ctx, stale);
      await this.ms.syncWal();
      return this.mountsFor(s);
    } finally {
      if (building !== undefined) this.building.delete(building);
      if (tmp !== undefined) this.removeQuietly(ctx, tmp);
    }
  }

  /** Removes the directory of a snapshot whose record is gone. */
  private discard(ctx: OpContext, id: string): void {
    const path = this.snapshotDir(id);
    const doomed = this.doomedPath(id);
    try {
      // The rename makes the directory vanish at once; the delete may be slow.
      renameSync(path, doomed);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      ctx.log.warn({ err, path }, 'failed to remove snapshot directory; cleanup will retry');
      return;
    }
    this.removeQuietly(ctx, doomed);
  }

  private doomedPath(id: string): string {
    return join(this.snapshotsDir, `rm-${id}-${randomBytes(4).toString('hex')}`);
  }

  /** Deletes garbage; a failure is logged and left to {@link DirSnapshotter.cleanup}. */
  private removeQuietly(ctx: OpContext, path: string): void {
    try {
      removeTree(path, this.root);
    } catch (err) {
      ctx.log.warn({ err, path }, 'failed to remove snapshot directory; cleanup will retry');
    }
  }
}

/**
 * Runs `fn`; a berth error it throws comes back with `prefix: ` before its
 * message and the same kind, as containerd's backends wrap their storage
 * errors (`failed to create snapshot: …`).
 */
function prefixed<T>(prefix: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (!isBerthError(err)) throw err;
    throw newError(err.kind, `${prefix}: ${err.message}`, { cause: err });
  }
}

function withoutEmpty(labels: Labels): Labels {
  const out: Labels = {};
  for (const [k, v] of Object.entries(labels)) if (v !== '') out[k] = v;
  return out;
}
