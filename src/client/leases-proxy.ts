import type {
  CreateResponse,
  Lease as LeasePb,
  LeasesClient,
  ListResourcesResponse,
  ListResponse,
} from '../api/containerd/services/leases/v1/leases.js';
import { internal } from '../core/errdefs/index.js';
import type { Labels } from '../core/labels/index.js';
import type { Lease, LeaseManager, LeaseResource } from '../core/leases/index.js';
import type { OpContext } from '../core/namespaces/index.js';
import { resourceFromProto, resourceToProto } from '../wire/leases.js';
import { fromTimestamp } from '../wire/timestamp.js';
import type { Rpc } from './rpc.js';

/** A {@link LeaseManager} over the Leases service (containerd's `leases/proxy`). */
export class LeasesProxy implements LeaseManager {
  constructor(
    private readonly client: LeasesClient,
    private readonly rpc: Rpc,
  ) {}

  async create(ctx: OpContext, lease: { id: string; labels?: Labels }): Promise<Lease> {
    const res = await this.rpc.unary<CreateResponse>(ctx, (md, o, cb) =>
      this.client.create({ id: lease.id, labels: { ...lease.labels } }, md, o, cb),
    );
    if (res.lease === undefined) throw internal(`lease "${lease.id}": create answered no lease`);
    return leaseOf(res.lease);
  }

  async delete(ctx: OpContext, id: string, opts: { sync?: boolean } = {}): Promise<void> {
    await this.rpc.unary(ctx, (md, o, cb) =>
      this.client.delete({ id, sync: opts.sync ?? false }, md, o, cb),
    );
  }

  async list(ctx: OpContext, filters: readonly string[] = []): Promise<Lease[]> {
    const res = await this.rpc.unary<ListResponse>(ctx, (md, o, cb) =>
      this.client.list({ filters: [...filters] }, md, o, cb),
    );
    return res.leases.map(leaseOf);
  }

  async addResource(ctx: OpContext, id: string, resource: LeaseResource): Promise<void> {
    await this.rpc.unary(ctx, (md, o, cb) =>
      this.client.addResource({ id, resource: resourceToProto(resource) }, md, o, cb),
    );
  }

  async deleteResource(ctx: OpContext, id: string, resource: LeaseResource): Promise<void> {
    await this.rpc.unary(ctx, (md, o, cb) =>
      this.client.deleteResource({ id, resource: resourceToProto(resource) }, md, o, cb),
    );
  }

  async listResources(ctx: OpContext, id: string): Promise<LeaseResource[]> {
    const res = await this.rpc.unary<ListResourcesResponse>(ctx, (md, o, cb) =>
      this.client.listResources({ id }, md, o, cb),
    );
    return res.resources.map(resourceFromProto);
  }
}

function leaseOf(pb: LeasePb): Lease {
  return { id: pb.id, createdAt: fromTimestamp(pb.createdAt), labels: { ...pb.labels } };
}
