import type {
  Container as ContainerPb,
  ContainersClient,
  CreateContainerResponse,
  GetContainerResponse,
  ListContainersResponse,
  UpdateContainerResponse,
} from '../api/containerd/services/containers/v1/containers.js';
import type { Container, ContainerRecord, ContainerStore } from '../core/containers/index.js';
import { internal } from '../core/errdefs/index.js';
import type { OpContext } from '../core/namespaces/index.js';
import { containerFromProto, containerToProto } from '../wire/containers.js';
import { fromTimestamp } from '../wire/timestamp.js';
import type { Rpc } from './rpc.js';

/** A {@link ContainerStore} over the Containers service (containerd's `remoteContainers`). */
export class ContainersProxy implements ContainerStore {
  constructor(
    private readonly client: ContainersClient,
    private readonly rpc: Rpc,
  ) {}

  async get(ctx: OpContext, id: string): Promise<Container> {
    const res = await this.rpc.unary<GetContainerResponse>(ctx, (md, o, cb) =>
      this.client.get({ id }, md, o, cb),
    );
    return containerOf(res.container, id);
  }

  async list(ctx: OpContext, filters: readonly string[] = []): Promise<Container[]> {
    const res = await this.rpc.unary<ListContainersResponse>(ctx, (md, o, cb) =>
      this.client.list({ filters: [...filters] }, md, o, cb),
    );
    return res.containers.map((c) => containerOf(c, c.id));
  }

  async create(ctx: OpContext, container: ContainerRecord): Promise<Container> {
    const res = await this.rpc.unary<CreateContainerResponse>(ctx, (md, o, cb) =>
      this.client.create({ container: toWire(container) }, md, o, cb),
    );
    return containerOf(res.container, container.id);
  }

  async update(
    ctx: OpContext,
    container: ContainerRecord,
    fieldpaths?: readonly string[],
  ): Promise<Container> {
    const res = await this.rpc.unary<UpdateContainerResponse>(ctx, (md, o, cb) =>
      this.client.update(
        {
          container: toWire(container),
          ...(fieldpaths && fieldpaths.length > 0 && { updateMask: [...fieldpaths] }),
        },
        md,
        o,
        cb,
      ),
    );
    return containerOf(res.container, container.id);
  }

  async delete(ctx: OpContext, id: string): Promise<void> {
    await this.rpc.unary(ctx, (md, o, cb) => this.client.delete({ id }, md, o, cb));
  }
}

function toWire(c: ContainerRecord): ContainerPb {
  const pb = containerToProto({ ...c, createdAt: 0n, updatedAt: 0n });
  // The store sets the times.
  delete pb.createdAt;
  delete pb.updatedAt;
  return pb;
}

function containerOf(pb: ContainerPb | undefined, id: string): Container {
  if (pb === undefined) throw internal(`container "${id}": the response carries no container`);
  return {
    ...containerFromProto(pb),
    createdAt: fromTimestamp(pb.createdAt),
    updatedAt: fromTimestamp(pb.updatedAt),
  };
}
