/**
 * @module snapshots
 * The snapshotter contract, containerd's: a snapshot is a filesystem tree
 * named by a key while active (writable, from Prepare) or a view (read-only,
 * from View), and by a name once committed. Active snapshots and views have
 * a parent chain of committed snapshots. Callers get mounts, never paths.
 *
 * Errors: `not_found` for an unknown key or parent; `already_exists` for a
 * key or name in use; `failed_precondition` when removing a snapshot that
 * has children, committing something that is not active, or asking the
 * mounts of a committed snapshot; `invalid_argument` for bad keys or field
 * paths, and (as containerd's storage answers) for a parent that is not
 * committed.
 */
import { type Adaptor, fieldsAdaptor } from '../filters/index.js';
import type { Labels } from '../labels/index.js';
import type { Mount } from '../mount/index.js';
import type { OpContext } from '../namespaces/index.js';

export type Kind = 'view' | 'active' | 'committed';

export interface SnapshotInfo {
  /** The key of an active snapshot or view, the name of a committed one. */
  name: string;
  /** Name of the committed parent; '' for none. */
  parent: string;
  kind: Kind;
  /** Nanoseconds since the epoch. */
  createdAt: bigint;
  updatedAt: bigint;
  labels: Labels;
}

export interface Usage {
  /** Bytes used by this snapshot alone (not its parents). */
  size: number;
  inodes: number;
}

export interface SnapshotOptions {
  labels?: Labels;
}

export interface Snapshotter {
  stat(ctx: OpContext, key: string): Promise<SnapshotInfo>;
  /** Labels only: paths `labels`, `labels.<key>`; none = replace all labels. */
  update(
    ctx: OpContext,
    info: Pick<SnapshotInfo, 'name' | 'labels'>,
    fieldpaths?: readonly string[],
  ): Promise<SnapshotInfo>;
  usage(ctx: OpContext, key: string): Promise<Usage>;
  mounts(ctx: OpContext, key: string): Promise<Mount[]>;
  prepare(ctx: OpContext, key: string, parent?: string, opts?: SnapshotOptions): Promise<Mount[]>;
  view(ctx: OpContext, key: string, parent?: string, opts?: SnapshotOptions): Promise<Mount[]>;
  /** Turns active `key` into committed `name`; the key is gone afterwards. */
  commit(ctx: OpContext, name: string, key: string, opts?: SnapshotOptions): Promise<void>;
  remove(ctx: OpContext, key: string): Promise<void>;
  /** Every snapshot matching any of the filters (containerd's snapshot adaptor). */
  list(ctx: OpContext, filters?: readonly string[]): Promise<SnapshotInfo[]>;
  /** Removes storage no snapshot refers to any more (after crashes or removals). */
  cleanup?(ctx: OpContext): Promise<void>;
}

/**
 * The fields containerd's snapshot filters see (snapshots/storage and
 * metadata adaptors): `kind` (`active`, `view`, `committed`), `name`,
 * `parent` (present even when empty) and `labels.<key>`.
 */
export function snapshotAdaptor(info: SnapshotInfo): Adaptor {
  return fieldsAdaptor({
    kind: info.kind,
    name: info.name,
    parent: info.parent,
    labels: info.labels,
  });
}
