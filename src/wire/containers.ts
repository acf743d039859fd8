import type { Container as ContainerPb } from '../api/containerd/services/containers/v1/containers.js';
import type { Any } from '../api/google/protobuf/any.js';
import type { Container, ContainerRecord } from '../core/containers/index.js';
import { anyFromProto, anyToProto } from './any.js';
import { toTimestamp } from './timestamp.js';

/**
 * A container as the wire carries it, as containerd's containerToProto:
 * runtime always present, times always set, spec and runtime options only
 * when the record has them.
 */
export function containerToProto(c: Container): ContainerPb {
  const extensions: Record<string, Any> = {};
  for (const [k, v] of Object.entries(c.extensions)) extensions[k] = anyToProto(v);
  return {
    id: c.id,
    labels: { ...c.labels },
    image: c.image,
    runtime: {
      name: c.runtime.name,
      ...(c.runtime.options && { options: anyToProto(c.runtime.options) }),
    },
    ...(c.spec && { spec: anyToProto(c.spec) }),
    snapshotter: c.snapshotter,
    snapshotKey: c.snapshotKey,
    createdAt: toTimestamp(c.createdAt),
    updatedAt: toTimestamp(c.updatedAt),
    extensions,
    sandbox: c.sandbox,
  };
}

/**
 * A container from a request. A missing message or runtime reads as empty
 * (containerd's are not nullable), which validation then refuses; times
 * are the store's and ignored.
 */
export function containerFromProto(pb: ContainerPb | undefined): ContainerRecord {
  const record: ContainerRecord = {
    id: pb?.id ?? '',
    labels: { ...pb?.labels },
    image: pb?.image ?? '',
    runtime: { name: pb?.runtime?.name ?? '' },
    snapshotter: pb?.snapshotter ?? '',
    snapshotKey: pb?.snapshotKey ?? '',
    sandbox: pb?.sandbox ?? '',
    extensions: {},
  };
  if (pb?.runtime?.options) record.runtime.options = anyFromProto(pb.runtime.options);
  if (pb?.spec) record.spec = anyFromProto(pb.spec);
  for (const [k, v] of Object.entries(pb?.extensions ?? {})) record.extensions[k] = anyFromProto(v);
  return record;
}
