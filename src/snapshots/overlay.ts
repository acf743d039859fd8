import { existsSync, lchownSync, lstatSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Mount } from '../core/mount/index.js';
import type { Kind } from '../core/snapshots/index.js';
import { DirSnapshotter } from './dir-snapshotter.js';
import type { StoredSnapshot } from './metastore.js';

/** containerd's plugin id and the directory name under the daemon root. */
export const OVERLAYFS_PLUGIN_ID = 'overlayfs';
export const OVERLAYFS_ROOT = 'io.containerd.snapshotter.v1.overlayfs';

/**
 * Whether the kernel offers overlayfs (`/proc/filesystems`), for the
 * plugin to skip itself otherwise, as containerd's does. containerd also
 * test-mounts in its root; that needs src/sys's mount.
 */
export function overlayAvailable(filesystems = '/proc/filesystems'): boolean {
  try {
    return /\toverlay$/m.test(readFileSync(filesystems, 'utf8'));
  } catch {
    return false;
  }
}

export interface OverlayOptions {
  /**
   * Add `userxattr` to overlay mounts (needed inside a user namespace, where
   * containerd detects it). Default false: berthd runs as real root.
   */
  userxattr?: boolean;
  /**
   * Add `index=off`; default: when the kernel has the overlay `index`
   * parameter, as containerd decides.
   */
  indexOff?: boolean;
}

/**
 * containerd's overlayfs snapshotter (snapshots/overlay/overlay.go, 1.6):
 * `<root>/snapshots/<id>/fs` is a snapshot's upper (its own changes),
 * `work` the overlay work dir of active ones; records in `<root>/metadata.db`.
 *
 * Mounts, exactly as containerd returns them:
 * - no parent: `bind` of its own `fs`, options `[rw|ro, rbind]`;
 * - view with one parent: `bind` of the parent's `fs`, `[ro, rbind]`;
 * - otherwise `overlay` (source `overlay`) with `[index=off,] [userxattr,]`
 *   then for active `workdir=…`, `upperdir=…`, and `lowerdir=` the parent
 *   chain's `fs` dirs, nearest first, joined with `:`.
 *
 * A new snapshot's `fs` gets the owner of its parent's `fs`. This class
 * only describes mounts; performing them is the caller's job.
 */
export class OverlaySnapshotter extends DirSnapshotter {
  private readonly userxattr: boolean;
  private readonly indexOff: boolean;

  constructor(root: string, opts: OverlayOptions = {}) {
    super(root);
    this.userxattr = opts.userxattr ?? false;
    this.indexOff = opts.indexOff ?? existsSync('/sys/module/overlay/parameters/index');
  }

  /** `<root>/snapshots/<id>/fs`. */
  upperPath(id: string): string {
    return join(this.snapshotDir(id), 'fs');
  }

  /** `<root>/snapshots/<id>/work`. */
  workPath(id: string): string {
    return join(this.snapshotDir(id), 'work');
  }

  protected needsDirectory(): boolean {
    return true;
  }

  // Synchronous: four short metadata calls cost less than four thread-pool round trips.
  protected async populate(dir: string, kind: Kind, parentIds: readonly string[]): Promise<void> {
    const fs = join(dir, 'fs');
    mkdirSync(fs, { mode: 0o755 });
    if (kind === 'active') mkdirSync(join(dir, 'work'), { mode: 0o711 });
    const [parent] = parentIds;
    if (parent !== undefined) {
      const st = lstatSync(this.upperPath(parent));
      lchownSync(fs, st.uid, st.gid);
    }
  }

  protected readonly mountsErrorPrefix = 'failed to get active mount';

  protected mountsFor(s: StoredSnapshot): Mount[] {
    if (s.parentIds.length === 0) {
      return [
        {
          type: 'bind',
          source: this.upperPath(s.id),
          options: [s.kind === 'view' ? 'ro' : 'rw', 'rbind'],
        },
      ];
    }
    const options: string[] = [];
    if (this.indexOff) options.push('index=off');
    if (this.userxattr) options.push('userxattr');
    if (s.kind === 'active') {
      options.push(`workdir=${this.workPath(s.id)}`, `upperdir=${this.upperPath(s.id)}`);
    } else if (s.parentIds.length === 1) {
      return [{ type: 'bind', source: this.upperPath(s.parentIds[0]!), options: ['ro', 'rbind'] }];
    }
    options.push(`lowerdir=${s.parentIds.map((id) => this.upperPath(id)).join(':')}`);
    return [{ type: 'overlay', source: 'overlay', options }];
  }

  protected usagePath(id: string): string {
    return this.upperPath(id);
  }
}
