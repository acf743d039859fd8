import { invalidArgument } from '../core/errdefs/index.js';
import { defaultString } from '../core/platforms/index.js';
import type { StreamManager, Transferrer } from '../core/transfer/index.js';
import { imageStores, PluginType, type Registration, StreamsKey } from '../plugin/index.js';
import { DEFAULT_REGISTRY_CONFIG_PATH } from './defaults.js';
import { LocalTransfer, type LocalTransferConfig } from './local.js';
import type { ImageOps } from './ops.js';
import { StreamRegistry } from './streams.js';

/** `io.containerd.streaming.v1` `manager`: the open transfer streams. */
export const streamManagerPlugin: Registration<StreamManager> = {
  type: PluginType.streaming,
  id: 'manager',
  init: () => new StreamRegistry(),
};

/**
 * `io.containerd.transfer.v1` `local`: the work behind the Transfer service,
 * over the daemon's namespaced stores. `loadOps` brings in the registry
 * client and image operations on the first transfer.
 *
 * ```toml
 * [plugins."io.containerd.transfer.v1.local"]
 *   config_path = "/etc/berth/certs.d"     # hosts.toml per registry host (containerd's CRI config_path)
 *   max_concurrent_downloads = 3
 *   max_concurrent_uploaded_layers = 3
 *   [[plugins."io.containerd.transfer.v1.local".unpack_config]]
 *     platform = "linux/amd64"
 *     snapshotter = "overlayfs"
 * ```
 */
export function localTransferPlugin(loadOps: () => Promise<ImageOps>): Registration<Transferrer> {
  return {
    type: PluginType.transfer,
    id: 'local',
    requires: [PluginType.lease, PluginType.service, PluginType.differ, PluginType.streaming],
    init(ic) {
      const config = transferConfig(ic.config);
      ic.exports.config_path = config.hostsDir;
      const stores = imageStores(ic);
      return new LocalTransfer(stores, ic.get(StreamsKey), config, loadOps);
    },
  };
}

/** The plugin's config table, with containerd's defaults (and berth's two snapshotters for the host). */
export function transferConfig(raw: Readonly<Record<string, unknown>>): LocalTransferConfig {
  const where = 'plugins."io.containerd.transfer.v1.local"';
  const hostName = defaultString();
  const path = raw.config_path ?? DEFAULT_REGISTRY_CONFIG_PATH;
  if (typeof path !== 'string' || !path.startsWith('/')) {
    throw invalidArgument(`${where}: config_path must be an absolute path`);
  }
  const unpack = raw.unpack_config ?? [
    { platform: hostName, snapshotter: 'overlayfs' },
    { platform: hostName, snapshotter: 'native' },
  ];
  if (!Array.isArray(unpack))
    throw invalidArgument(`${where}: unpack_config must be an array of tables`);
  return {
    hostsDir: path,
    maxConcurrentDownloads: positive(
      raw.max_concurrent_downloads,
      3,
      `${where}: max_concurrent_downloads`,
    ),
    maxConcurrentUploads: positive(
      raw.max_concurrent_uploaded_layers,
      3,
      `${where}: max_concurrent_uploaded_layers`,
    ),
    unpackPlatforms: unpack.map((u: unknown, i) => {
      const t = (u ?? {}) as Record<string, unknown>;
      const platform = t.platform ?? hostName;
      const snapshotter = t.snapshotter ?? 'overlayfs';
      if (typeof platform !== 'string' || typeof snapshotter !== 'string') {
        throw invalidArgument(
          `${where}: unpack_config[${i}] needs string platform and snapshotter`,
        );
      }
      return { platform, snapshotter };
    }),
    defaultSnapshotter: 'overlayfs',
  };
}

function positive(v: unknown, dflt: number, what: string): number {
  if (v === undefined) return dflt;
  const n = typeof v === 'bigint' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) {
    throw invalidArgument(`${what} must be a positive integer, not ${String(v)}`);
  }
  return n;
}
