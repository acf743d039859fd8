import { invalidArgument } from '../core/errdefs/index.js';
import { parseGoDuration } from '../core/time/index.js';
import {
  ContainersServiceKey,
  ExchangeKey,
  NamespacesServiceKey,
  PluginType,
  type Registration,
  SnapshotsServiceKey,
  TaskManagerKey,
} from '../plugin/index.js';
import { type RestartCodec, RestartMonitor } from './monitor.js';

/** containerd's default reconcile interval. */
export const DEFAULT_INTERVAL_MS = 10_000;

/** The plugin's URI, containerd 2.x's; the config table under containerd 1.x's name is read too. */
export const RESTART_PLUGIN_URI = `${PluginType.containerMonitor}.restart`;
/** containerd 1.6/1.7's URI of the same plugin. */
export const RESTART_PLUGIN_URI_1X = `${PluginType.internal}.restart`;

/**
 * The restart monitor, `io.containerd.monitor.container.v1` `restart` as
 * in containerd 2.x, configured as containerd's:
 *
 *   [plugins."io.containerd.monitor.container.v1.restart"]   # or 1.x's "io.containerd.internal.v1.restart"
 *     interval = "10s"
 *
 * Not containerd 1.x's `io.containerd.internal.v1` type: berth's runtime
 * requires the internal plugins (the ttrpc socket its shims publish to),
 * and the monitor requires the runtime. berthd's config moves a 1.x table
 * to this name, as containerd 2.x's config migration does.
 *
 * restart never imports the API, so the daemon's list passes the codec
 * of the events it reads and publishes (the wire's).
 */
export function restartPlugin(codec: RestartCodec): Registration<RestartMonitor> {
  return {
    type: PluginType.containerMonitor,
    id: 'restart',
    requires: [PluginType.event, PluginType.service, PluginType.runtimeV2],
    capabilities: ['no', 'always', 'on-failure', 'unless-stopped'],
    init(ic) {
      const intervalMs = restartInterval(ic.config.interval);
      ic.exports.interval = `${intervalMs}ms`;
      const monitor = new RestartMonitor({
        namespaces: ic.get(NamespacesServiceKey),
        containers: ic.get(ContainersServiceKey),
        snapshotters: ic.get(SnapshotsServiceKey),
        tasks: ic.get(TaskManagerKey),
        events: ic.get(ExchangeKey),
        codec,
        intervalMs,
        log: ic.log,
      });
      monitor.start();
      return monitor;
    },
    close: (m) => m.close(),
  };
}

/** `interval`: a Go duration string (containerd's), or a number of seconds; 0 or absent is 10 s, as in containerd. */
export function restartInterval(raw: unknown): number {
  const where = `plugins."${RESTART_PLUGIN_URI}": interval`;
  let ms: number;
  if (raw === undefined) ms = 0;
  else if (typeof raw === 'string') ms = parseGoDuration(raw, where);
  else if (typeof raw === 'number' && Number.isFinite(raw) && raw >= 0) ms = raw * 1000;
  else throw invalidArgument(`${where}: must be a duration such as "10s"`);
  return ms === 0 ? DEFAULT_INTERVAL_MS : ms;
}
