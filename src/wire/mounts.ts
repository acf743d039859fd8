import type { Mount as MountPb } from '../api/containerd/types/mount.js';
import type { Mount } from '../core/mount/index.js';

/** containerd's `fromMounts`: type, source and options (no target). */
export function mountToProto(m: Mount): MountPb {
  return { type: m.type, source: m.source, target: '', options: [...m.options] };
}

export function mountFromProto(pb: MountPb): Mount {
  return {
    type: pb.type,
    source: pb.source,
    ...(pb.target !== '' && { target: pb.target }),
    options: [...pb.options],
  };
}
