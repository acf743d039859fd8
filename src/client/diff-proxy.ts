import type {
  ApplyResponse,
  DiffClient,
  DiffResponse,
} from '../api/containerd/services/diff/v1/diff.js';
import type { Any } from '../api/google/protobuf/any.js';
import { asBuffer } from '../core/any/index.js';
import type { Descriptor } from '../core/content/index.js';
import type { Applier, ApplyOptions, CompareOptions, Comparer } from '../core/diff/index.js';
import { internal } from '../core/errdefs/index.js';
import type { Mount } from '../core/mount/index.js';
import type { OpContext } from '../core/namespaces/index.js';
import { descriptorFromProto, descriptorToProto } from '../wire/descriptor.js';
import { mountToProto } from '../wire/mounts.js';
import type { Rpc } from './rpc.js';

/** An {@link Applier} and {@link Comparer} over the Diff service (containerd's `diff/proxy`). */
export class DiffProxy implements Applier, Comparer {
  constructor(
    private readonly client: DiffClient,
    private readonly rpc: Rpc,
  ) {}

  async apply(
    ctx: OpContext,
    desc: Descriptor,
    mounts: Mount[],
    opts: ApplyOptions = {},
  ): Promise<Descriptor> {
    const payloads: Record<string, Any> = {};
    for (const [k, v] of Object.entries(opts.payloads ?? {})) {
      payloads[k] = { typeUrl: k, value: asBuffer(v) };
    }
    const res = await this.rpc.unary<ApplyResponse>(ctx, (md, o, cb) =>
      this.client.apply(
        {
          diff: descriptorToProto(desc),
          mounts: mounts.map(mountToProto),
          payloads,
          syncFs: opts.syncFs ?? false,
        },
        md,
        o,
        cb,
      ),
    );
    if (res.applied === undefined) {
      throw internal(`apply of ${desc.digest}: the response carries no descriptor`);
    }
    return descriptorFromProto(res.applied);
  }

  async compare(
    ctx: OpContext,
    lower: Mount[],
    upper: Mount[],
    opts: CompareOptions = {},
  ): Promise<Descriptor> {
    const res = await this.rpc.unary<DiffResponse>(ctx, (md, o, cb) =>
      this.client.diff(
        {
          left: lower.map(mountToProto),
          right: upper.map(mountToProto),
          mediaType: opts.mediaType ?? '',
          ref: opts.ref ?? '',
          labels: { ...opts.labels },
        },
        md,
        o,
        cb,
      ),
    );
    if (res.diff === undefined) throw internal('diff: the response carries no descriptor');
    return descriptorFromProto(res.diff);
  }
}
