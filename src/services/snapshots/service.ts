import {
  type CleanupRequest,
  type CommitSnapshotRequest,
  type ListSnapshotsRequest,
  type ListSnapshotsResponse,
  type MountsRequest,
  type PrepareSnapshotRequest,
  type RemoveSnapshotRequest,
  SnapshotsService,
  type StatSnapshotRequest,
  type UpdateSnapshotRequest,
  type UsageRequest,
  type ViewSnapshotRequest,
} from '../../api/containerd/services/snapshots/v1/snapshots.js';
import { invalidArgument, notImplemented } from '../../core/errdefs/index.js';
import type { Publisher } from '../../core/events/index.js';
import type { Labels } from '../../core/labels/index.js';
import type { SnapshotOptions, Snapshotter } from '../../core/snapshots/index.js';
import { type GrpcService, serverStream, unary } from '../../server/service.js';
import { snapshotCommit, snapshotPrepare, snapshotRemove } from '../../wire/event-payloads.js';
import { mountToProto } from '../../wire/mounts.js';
import { snapshotInfoFromProto, snapshotInfoToProto } from '../../wire/snapshots.js';

/** How many infos one List response carries (containerd sends batches of 100). */
const LIST_BATCH = 100;

/**
 * containerd.services.snapshots.v1.Snapshots over namespaced snapshotters
 * by name (`overlayfs`, `native`), as containerd's services/snapshots:
 * the request's `snapshotter` picks one; a missing name is
 * INVALID_ARGUMENT "snapshotter argument missing", an unknown one
 * INVALID_ARGUMENT "snapshotter not loaded: <name>". Prepare, Commit and
 * Remove publish `/snapshot/prepare`, `/snapshot/commit` and
 * `/snapshot/remove` after they succeed (View publishes nothing, as in
 * containerd 1.6, whose events carry no snapshotter field). Cleanup of a
 * snapshotter without one is UNIMPLEMENTED.
 */
export function snapshotsService(
  snapshotters: ReadonlyMap<string, Snapshotter>,
  publisher: Publisher,
): GrpcService {
  const get = (name: string): Snapshotter => {
    if (!name) throw invalidArgument('snapshotter argument missing');
    const sn = snapshotters.get(name);
    if (!sn) throw invalidArgument(`snapshotter not loaded: ${name}`);
    return sn;
  };
  return {
    name: 'containerd.services.snapshots.v1.Snapshots',
    definition: SnapshotsService,
    namespaced: true,
    handlers: {
      Prepare: unary(async (ctx, req: PrepareSnapshotRequest) => {
        const sn = get(req.snapshotter);
        const mounts = await sn.prepare(ctx, req.key, req.parent, options(req.labels));
        await publisher.publish(
          ctx,
          '/snapshot/prepare',
          snapshotPrepare({ key: req.key, parent: req.parent }),
        );
        return { mounts: mounts.map(mountToProto) };
      }),
      View: unary(async (ctx, req: ViewSnapshotRequest) => {
        const sn = get(req.snapshotter);
        const mounts = await sn.view(ctx, req.key, req.parent, options(req.labels));
        return { mounts: mounts.map(mountToProto) };
      }),
      Mounts: unary(async (ctx, req: MountsRequest) => {
        const mounts = await get(req.snapshotter).mounts(ctx, req.key);
        return { mounts: mounts.map(mountToProto) };
      }),
      Commit: unary(async (ctx, req: CommitSnapshotRequest) => {
        await get(req.snapshotter).commit(ctx, req.name, req.key, options(req.labels));
        await publisher.publish(
          ctx,
          '/snapshot/commit',
          snapshotCommit({ key: req.key, name: req.name }),
        );
        return {};
      }),
      Remove: unary(async (ctx, req: RemoveSnapshotRequest) => {
        await get(req.snapshotter).remove(ctx, req.key);
        await publisher.publish(ctx, '/snapshot/remove', snapshotRemove({ key: req.key }));
        return {};
      }),
      Stat: unary(async (ctx, req: StatSnapshotRequest) => ({
        info: snapshotInfoToProto(await get(req.snapshotter).stat(ctx, req.key)),
      })),
      Update: unary(async (ctx, req: UpdateSnapshotRequest) => {
        const sn = get(req.snapshotter);
        // containerd's Info is not nullable: a missing one has no name.
        const info = req.info ? snapshotInfoFromProto(req.info) : { name: '', labels: {} };
        if (!info.name) throw invalidArgument('snapshot name must not be empty');
        return { info: snapshotInfoToProto(await sn.update(ctx, info, req.updateMask)) };
      }),
      List: serverStream(
        async (
          ctx,
          req: ListSnapshotsRequest,
          send: (r: ListSnapshotsResponse) => Promise<void>,
        ) => {
          const infos = await get(req.snapshotter).list(ctx, req.filters);
          for (let i = 0; i < infos.length; i += LIST_BATCH) {
            await send({ info: infos.slice(i, i + LIST_BATCH).map(snapshotInfoToProto) });
          }
        },
      ),
      Usage: unary(async (ctx, req: UsageRequest) => {
        const u = await get(req.snapshotter).usage(ctx, req.key);
        return { size: BigInt(u.size), inodes: BigInt(u.inodes) };
      }),
      Cleanup: unary(async (ctx, req: CleanupRequest) => {
        const sn = get(req.snapshotter);
        if (!sn.cleanup) throw notImplemented('snapshotter does not implement Cleanup method');
        await sn.cleanup(ctx);
        return {};
      }),
    },
  };
}

/** containerd passes labels only when the request has a map. */
function options(labels: Labels | undefined): SnapshotOptions | undefined {
  return labels && Object.keys(labels).length > 0 ? { labels } : undefined;
}
