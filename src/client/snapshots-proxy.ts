import type {
  ListSnapshotsResponse,
  MountsResponse,
  PrepareSnapshotResponse,
  Info as SnapshotInfoPb,
  SnapshotsClient,
  StatSnapshotResponse,
  UpdateSnapshotResponse,
  UsageResponse,
  ViewSnapshotResponse,
} from '../api/containerd/services/snapshots/v1/snapshots.js';
import { internal } from '../core/errdefs/index.js';
import type { Mount } from '../core/mount/index.js';
import type { OpContext } from '../core/namespaces/index.js';
import type { SnapshotInfo, SnapshotOptions, Snapshotter, Usage } from '../core/snapshots/index.js';
import { mountFromProto } from '../wire/mounts.js';
import { snapshotInfoFromProto, snapshotInfoToProto } from '../wire/snapshots.js';
import type { Rpc } from './rpc.js';

/**
 * A {@link Snapshotter} over the Snapshots service for one snapshotter name
 * (containerd's `snapshots/proxy`); every request names it.
 */
export class SnapshotsProxy implements Snapshotter {
  constructor(
    private readonly client: SnapshotsClient,
    private readonly rpc: Rpc,
    readonly snapshotter: string,
  ) {}

  async stat(ctx: OpContext, key: string): Promise<SnapshotInfo> {
    const res = await this.rpc.unary<StatSnapshotResponse>(ctx, (md, o, cb) =>
      this.client.stat({ snapshotter: this.snapshotter, key }, md, o, cb),
    );
    return this.infoOf(res.info, key);
  }

  async update(
    ctx: OpContext,
    info: Pick<SnapshotInfo, 'name' | 'labels'>,
    fieldpaths?: readonly string[],
  ): Promise<SnapshotInfo> {
    const pb = snapshotInfoToProto({
      name: info.name,
      labels: info.labels,
      parent: '',
      kind: 'active',
      createdAt: 0n,
      updatedAt: 0n,
    });
    const res = await this.rpc.unary<UpdateSnapshotResponse>(ctx, (md, o, cb) =>
      this.client.update(
        {
          snapshotter: this.snapshotter,
          info: { ...pb, createdAt: undefined, updatedAt: undefined },
          ...(fieldpaths && { updateMask: [...fieldpaths] }),
        },
        md,
        o,
        cb,
      ),
    );
    return this.infoOf(res.info, info.name);
  }

  async usage(ctx: OpContext, key: string): Promise<Usage> {
    const res = await this.rpc.unary<UsageResponse>(ctx, (md, o, cb) =>
      this.client.usage({ snapshotter: this.snapshotter, key }, md, o, cb),
    );
    return { size: Number(res.size), inodes: Number(res.inodes) };
  }

  async mounts(ctx: OpContext, key: string): Promise<Mount[]> {
    const res = await this.rpc.unary<MountsResponse>(ctx, (md, o, cb) =>
      this.client.mounts({ snapshotter: this.snapshotter, key }, md, o, cb),
    );
    return res.mounts.map(mountFromProto);
  }

  async prepare(
    ctx: OpContext,
    key: string,
    parent = '',
    opts: SnapshotOptions = {},
  ): Promise<Mount[]> {
    const res = await this.rpc.unary<PrepareSnapshotResponse>(ctx, (md, o, cb) =>
      this.client.prepare(
        { snapshotter: this.snapshotter, key, parent, labels: { ...opts.labels } },
        md,
        o,
        cb,
      ),
    );
    return res.mounts.map(mountFromProto);
  }

  async view(
    ctx: OpContext,
    key: string,
    parent = '',
    opts: SnapshotOptions = {},
  ): Promise<Mount[]> {
    const res = await this.rpc.unary<ViewSnapshotResponse>(ctx, (md, o, cb) =>
      this.client.view(
        { snapshotter: this.snapshotter, key, parent, labels: { ...opts.labels } },
        md,
        o,
        cb,
      ),
    );
    return res.mounts.map(mountFromProto);
  }

  async commit(
    ctx: OpContext,
    name: string,
    key: string,
    opts: SnapshotOptions = {},
  ): Promise<void> {
    await this.rpc.unary(ctx, (md, o, cb) =>
      this.client.commit(
        { snapshotter: this.snapshotter, name, key, labels: { ...opts.labels }, parent: '' },
        md,
        o,
        cb,
      ),
    );
  }

  async remove(ctx: OpContext, key: string): Promise<void> {
    await this.rpc.unary(ctx, (md, o, cb) =>
      this.client.remove({ snapshotter: this.snapshotter, key }, md, o, cb),
    );
  }

  async list(ctx: OpContext, filters: readonly string[] = []): Promise<SnapshotInfo[]> {
    const out: SnapshotInfo[] = [];
    const stream = this.rpc.stream<ListSnapshotsResponse>(ctx, (md, o) =>
      this.client.list({ snapshotter: this.snapshotter, filters: [...filters] }, md, o),
    );
    for await (const msg of stream) for (const i of msg.info) out.push(snapshotInfoFromProto(i));
    return out;
  }

  async cleanup(ctx: OpContext): Promise<void> {
    await this.rpc.unary(ctx, (md, o, cb) =>
      this.client.cleanup({ snapshotter: this.snapshotter }, md, o, cb),
    );
  }

  private infoOf(pb: SnapshotInfoPb | undefined, key: string): SnapshotInfo {
    if (pb === undefined) {
      throw internal(`snapshot "${key}" (${this.snapshotter}): the response carries no info`);
    }
    return snapshotInfoFromProto(pb);
  }
}
