import type { Image as ImagePb } from '../api/containerd/services/images/v1/images.js';
import type { Image } from '../core/images/index.js';
import { descriptorFromProto, descriptorToProto } from './descriptor.js';
import { toTimestamp } from './timestamp.js';

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
