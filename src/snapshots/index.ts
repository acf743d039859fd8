/**
 * @module snapshots
 * The snapshotter backends, as containerd's: {@link OverlaySnapshotter}
 * (`io.containerd.snapshotter.v1.overlayfs`) and {@link NativeSnapshotter}
 * (`io.containerd.snapshotter.v1.native`). They see keys as they come (the
 * metadata layer namespaces them), keep their records in `<root>/metadata.db`
 * and their trees under `<root>/snapshots/<id>`, and describe mounts without
 * performing them.
 */
export { copyTree } from './copy.js';
export { DirSnapshotter } from './dir-snapshotter.js';
export { MetaStore, type StoredSnapshot } from './metastore.js';
export { NATIVE_PLUGIN_ID, NATIVE_ROOT, NativeSnapshotter } from './native.js';
export {
  OVERLAYFS_PLUGIN_ID,
  OVERLAYFS_ROOT,
  type OverlayOptions,
  OverlaySnapshotter,
  overlayAvailable,
} from './overlay.js';
export { diskUsage } from './usage.js';
