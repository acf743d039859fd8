import { chmod } from 'node:fs/promises';
import type { Mount } from '../core/mount/index.js';
import type { Kind } from '../core/snapshots/index.js';
import { copyTree } from './copy.js';
import { DirSnapshotter } from './dir-snapshotter.js';
import type { StoredSnapshot } from './metastore.js';

/** containerd's plugin id and the directory name under the daemon root. */
export const NATIVE_PLUGIN_ID = 'native';
export const NATIVE_ROOT = 'io.containerd.snapshotter.v1.native';

/**
 * containerd's native snapshotter (snapshots/native/native.go, 1.6): every
 * active snapshot is a full copy of its parent in `<root>/snapshots/<id>/`
 * (made with `cp -a --reflink=auto`, see {@link copyTree}), so it works on
 * any filesystem. A view on a parent has no directory: it is the parent's,
 * mounted read-only.
 *
 * Mounts, exactly as containerd returns them: one `bind` mount with options
 * `[rbind, rw]` (active) or `[rbind, ro]` (view), of the snapshot's own
 * directory, or for a view with a parent, of the parent's.
 */
export class NativeSnapshotter extends DirSnapshotter {
  protected needsDirectory(kind: Kind, parentIds: readonly string[]): boolean {
    return kind === 'active' || parentIds.length === 0;
  }

  protected async populate(dir: string, _kind: Kind, parentIds: readonly string[]): Promise<void> {
    await chmod(dir, 0o755);
    const [parent] = parentIds;
    if (parent !== undefined) await copyTree(this.snapshotDir(parent), dir);
  }

  protected readonly mountsErrorPrefix = 'failed to get snapshot mount';

  protected mountsFor(s: StoredSnapshot): Mount[] {
    const [parent] = s.parentIds;
    const source =
      parent === undefined || s.kind === 'active'
        ? this.snapshotDir(s.id)
        : this.snapshotDir(parent);
    return [{ type: 'bind', source, options: ['rbind', s.kind === 'view' ? 'ro' : 'rw'] }];
  }

  protected usagePath(id: string): string {
    return this.snapshotDir(id);
  }
}
