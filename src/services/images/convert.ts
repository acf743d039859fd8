import type { Image as ImagePb } from '../../api/containerd/services/images/v1/images.js';
import type { Descriptor as DescriptorPb } from '../../api/containerd/types/descriptor.js';
import type { Descriptor } from '../../core/content/index.js';
import { invalidArgument } from '../../core/errdefs/index.js';
import type { Image } from '../../core/images/index.js';
import { toTimestamp } from '../timestamp.js';

/** An image as the wire carries it: times always set, as containerd's are. */
export function imageToProto(image: Image): ImagePb {
  return {
    name: image.name,
    labels: { ...image.labels },
    target: descriptorToProto(image.target),
    createdAt: toTimestamp(image.createdAt),
    updatedAt: toTimestamp(image.updatedAt),
  };
}

/**
 * An image from a request. A missing target reads as an empty descriptor
 * (containerd's is not nullable), which the store then refuses.
 */
export function imageFromProto(pb: ImagePb): Omit<Image, 'createdAt' | 'updatedAt'> {
  return {
    name: pb.name,
    labels: { ...pb.labels },
    target: descriptorFromProto(pb.target),
  };
}

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
