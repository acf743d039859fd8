import type {
  Info as InfoProto,
  Status as StatusProto,
} from '../../api/containerd/services/content/v1/content.js';
import type { Info, Status } from '../../core/content/index.js';
import { fromTimestamp, toTimestamp } from '../timestamp.js';

export function infoToProto(i: Info): InfoProto {
  return {
    digest: i.digest,
    size: BigInt(i.size),
    createdAt: toTimestamp(i.createdAt),
    updatedAt: toTimestamp(i.updatedAt),
    labels: i.labels,
  };
}

export function infoFromProto(i: InfoProto): Info {
  return {
    digest: i.digest,
    size: Number(i.size),
    createdAt: fromTimestamp(i.createdAt),
    updatedAt: fromTimestamp(i.updatedAt),
    labels: i.labels ?? {},
  };
}

export function statusToProto(s: Status): StatusProto {
  return {
    ref: s.ref,
    offset: BigInt(s.offset),
    total: BigInt(s.total),
    expected: s.expected,
    startedAt: toTimestamp(s.startedAt),
    updatedAt: toTimestamp(s.updatedAt),
  };
}
