import { randomBytes } from 'node:crypto';
import {
  type AddResourceRequest,
  type CreateRequest,
  type DeleteRequest,
  type DeleteResourceRequest,
  LeasesService,
  type ListRequest,
  type ListResourcesRequest,
} from '../../api/containerd/services/leases/v1/leases.js';
import type { LeaseManager } from '../../core/leases/index.js';
import { nowNanos } from '../../core/time/index.js';
import { type GrpcService, unary } from '../../server/service.js';
import { leaseToProto, resourceFromProto, resourceToProto } from '../../wire/leases.js';

/**
 * containerd.services.leases.v1.Leases over a {@link LeaseManager}, as
 * containerd's services/leases/service.go. Create without an id makes one
 * up as containerd 1.6's server does (`<nanoseconds>-<base64url>`). Delete
 * with `sync` answers after a garbage collection has finished.
 */
export function leasesService(manager: LeaseManager): GrpcService {
  return {
    name: 'containerd.services.leases.v1.Leases',
    definition: LeasesService,
    namespaced: true,
    handlers: {
      Create: unary(async (ctx, req: CreateRequest) => ({
        lease: leaseToProto(
          await manager.create(ctx, { id: req.id || randomLeaseId(), labels: req.labels }),
        ),
      })),
      Delete: unary(async (ctx, req: DeleteRequest) => {
        await manager.delete(ctx, req.id, { sync: req.sync });
        return {};
      }),
      List: unary(async (ctx, req: ListRequest) => ({
        leases: (await manager.list(ctx, req.filters)).map(leaseToProto),
      })),
      AddResource: unary(async (ctx, req: AddResourceRequest) => {
        await manager.addResource(ctx, req.id, resourceFromProto(req.resource));
        return {};
      }),
      DeleteResource: unary(async (ctx, req: DeleteResourceRequest) => {
        await manager.deleteResource(ctx, req.id, resourceFromProto(req.resource));
        return {};
      }),
      ListResources: unary(async (ctx, req: ListResourcesRequest) => ({
        resources: (await manager.listResources(ctx, req.id)).map(resourceToProto),
      })),
    },
  };
}

/** containerd's `leases.WithRandomID`: the clock's nanoseconds and 3 random bytes. */
export function randomLeaseId(): string {
  const nanos = nowNanos() % 1_000_000_000n;
  return `${nanos}-${randomBytes(3).toString('base64url')}`;
}
