import type {
  Lease as LeasePb,
  Resource as ResourcePb,
} from '../api/containerd/services/leases/v1/leases.js';
import type { Lease, LeaseResource } from '../core/leases/index.js';
import { toTimestamp } from './timestamp.js';

export function leaseToProto(lease: Lease): LeasePb {
  return { id: lease.id, createdAt: toTimestamp(lease.createdAt), labels: { ...lease.labels } };
}

export function resourceToProto(r: LeaseResource): ResourcePb {
  return { id: r.id, type: r.type };
}

/** containerd's Resource is not nullable: a missing one reads as empty. */
export function resourceFromProto(r: ResourcePb | undefined): LeaseResource {
  return { id: r?.id ?? '', type: r?.type ?? '' };
}
