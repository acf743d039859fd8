import {
  type ApplyRequest,
  type DiffRequest,
  DiffService,
} from '../../api/containerd/services/diff/v1/diff.js';
import type { Applier, ApplyOptions, Comparer } from '../../core/diff/index.js';
import { invalidArgument } from '../../core/errdefs/index.js';
import { type GrpcService, unary } from '../../server/service.js';
import { descriptorFromProto, descriptorToProto } from '../../wire/descriptor.js';
import { mountFromProto } from '../../wire/mounts.js';

/**
 * containerd.services.diff.v1.Diff over one applier and one comparer (the
 * walking differ), as containerd's services/diff with `differ = walking`.
 * Namespaced: the blobs Apply reads and Compare writes belong to the
 * request's namespace (and its lease). A missing Apply descriptor is
 * INVALID_ARGUMENT; `payloads` are passed on (berth has no stream
 * processors, so an encrypted layer is refused by its media type);
 * `source_date_epoch` (1.7) is ignored, as containerd 1.6 does.
 */
export function diffService(applier: Applier, comparer: Comparer): GrpcService {
  return {
    name: 'containerd.services.diff.v1.Diff',
    definition: DiffService,
    namespaced: true,
    handlers: {
      Apply: unary(async (ctx, req: ApplyRequest) => {
        if (!req.diff) throw invalidArgument('apply: diff descriptor is required');
        const opts: ApplyOptions = { syncFs: req.syncFs };
        const payloads = Object.entries(req.payloads);
        if (payloads.length > 0) {
          opts.payloads = Object.fromEntries(payloads.map(([k, v]) => [k, v.value]));
        }
        const applied = await applier.apply(
          ctx,
          descriptorFromProto(req.diff),
          req.mounts.map(mountFromProto),
          opts,
        );
        return { applied: descriptorToProto(applied) };
      }),
      Diff: unary(async (ctx, req: DiffRequest) => {
        const desc = await comparer.compare(
          ctx,
          req.left.map(mountFromProto),
          req.right.map(mountFromProto),
          {
            mediaType: req.mediaType,
            ref: req.ref,
            labels: { ...req.labels },
          },
        );
        return { diff: descriptorToProto(desc) };
      }),
    },
  };
}
