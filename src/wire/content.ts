import type {
  Info as InfoPb,
  Status as StatusPb,
} from '../api/containerd/services/content/v1/content.js';
import type { Info, Status } from '../core/content/index.js';
import { fromTimestamp, toTimestamp } from './timestamp.js';

export function contentInfoToProto(i: Info): InfoPb {
  return {
    digest: i.digest,
    size: BigInt(i.size),
    createdAt: toTimestamp(i.createdAt),
    updatedAt: toTimestamp(i.updatedAt),
    labels: i.labels,
  };
}

export function contentInfoFromProto(i: InfoPb): Info {
  return {
    digest: i.digest,
    size: Number(i.size),
    createdAt: fromTimestamp(i.createdAt),
    updatedAt: fromTimestamp(i.updatedAt),
    labels: i.labels ?? {},
  };
}

export function statusToProto(s: Status): StatusPb {
  return {
    ref: s.ref,
    offset: BigInt(s.offset),
    total: BigInt(s.total),
    expected: s.expected,
    startedAt: toTimestamp(s.startedAt),
    updatedAt: toTimestamp(s.updatedAt),
  };
}

export function statusFromProto(s: StatusPb): Status {
  return {
    ref: s.ref,
    offset: Number(s.offset),
    total: Number(s.total),
    expected: s.expected,
    startedAt: fromTimestamp(s.startedAt),
    updatedAt: fromTimestamp(s.updatedAt),
  };
}
