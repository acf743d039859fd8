import { hostPlatform, PluginType, type Registration } from '../plugin/index.js';
import { NATIVE_PLUGIN_ID, NativeSnapshotter } from './native.js';
import { OVERLAYFS_PLUGIN_ID, OverlaySnapshotter, overlayAvailable } from './overlay.js';

/**
 * `io.containerd.snapshotter.v1` `overlayfs`; skipped where the kernel has
 * no overlay. The metadata plugin names each snapshotter by its plugin id.
 */
export const overlayfsPlugin: Registration<OverlaySnapshotter> = {
  type: PluginType.snapshotter,
  id: OVERLAYFS_PLUGIN_ID,
  requires: [],
  platforms: [hostPlatform()],
  init(ic) {
    if (!overlayAvailable()) throw new Error('skip plugin: overlay is not supported by the kernel');
    const root = ic.rootDir();
    ic.exports.root = root;
    return new OverlaySnapshotter(root);
  },
  close: (s) => s.close(),
};

/** `io.containerd.snapshotter.v1` `native`: full copies, on any filesystem. */
export const nativePlugin: Registration<NativeSnapshotter> = {
  type: PluginType.snapshotter,
  id: NATIVE_PLUGIN_ID,
  requires: [],
  platforms: [hostPlatform()],
  init(ic) {
    const root = ic.rootDir();
    ic.exports.root = root;
    return new NativeSnapshotter(root);
  },
  close: (s) => s.close(),
};
