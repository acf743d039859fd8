import type { Descriptor as DescriptorPb } from '../api/containerd/types/descriptor.js';
import type { Descriptor } from '../core/content/index.js';
import { invalidArgument } from '../core/errdefs/index.js';

export function descriptorToProto(desc: Descriptor): DescriptorPb {
  return {
    mediaType: desc.mediaType,
    digest: desc.digest,
    size: BigInt(desc.size),
    annotations: { ...desc.annotations },
  };
}

/** Sizes are int64 on the wire and numbers in the domain: beyond 2^53 is refused. */
export function descriptorFromProto(pb: DescriptorPb | undefined): Descriptor {
  if (pb === undefined) return { mediaType: '', digest: '', size: 0 };
  const size = Number(pb.size);
  if (!Number.isSafeInteger(size)) {
    throw invalidArgument(`descriptor size ${pb.size} is out of range`);
  }
  const desc: Descriptor = { mediaType: pb.mediaType, digest: pb.digest, size };
  if (Object.keys(pb.annotations).length > 0) desc.annotations = { ...pb.annotations };
  return desc;
}
