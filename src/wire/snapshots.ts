import {
  type Info as InfoPb,
  Kind as KindPb,
} from '../api/containerd/services/snapshots/v1/snapshots.js';
import type { Kind, SnapshotInfo } from '../core/snapshots/index.js';
import { fromTimestamp, toTimestamp } from './timestamp.js';

/** containerd's `fromKind`: anything not active or a view is committed. */
export function kindToProto(kind: Kind): KindPb {
  if (kind === 'active') return KindPb.ACTIVE;
  if (kind === 'view') return KindPb.VIEW;
  return KindPb.COMMITTED;
}

/** containerd's `toKind`. */
export function kindFromProto(kind: KindPb): Kind {
  if (kind === KindPb.ACTIVE) return 'active';
  if (kind === KindPb.VIEW) return 'view';
  return 'committed';
}

export function snapshotInfoToProto(info: SnapshotInfo): InfoPb {
  return {
    name: info.name,
    parent: info.parent,
    kind: kindToProto(info.kind),
    createdAt: toTimestamp(info.createdAt),
    updatedAt: toTimestamp(info.updatedAt),
    labels: { ...info.labels },
  };
}

export function snapshotInfoFromProto(pb: InfoPb): SnapshotInfo {
  return {
    name: pb.name,
    parent: pb.parent,
    kind: kindFromProto(pb.kind),
    createdAt: fromTimestamp(pb.createdAt),
    updatedAt: fromTimestamp(pb.updatedAt),
    labels: { ...pb.labels },
  };
}
