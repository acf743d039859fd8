import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { invalidArgument } from '../core/errdefs/index.js';
import {
  type Differ,
  hostPlatform,
  MetadataKey,
  PluginType,
  type Registration,
} from '../plugin/index.js';
import { WalkingApplier } from './apply.js';
import { ApplyWorkers, IDLE_MS } from './apply-workers.js';
import { WalkingComparer } from './compare.js';

/**
 * `io.containerd.differ.v1` `walking`, over the namespaced content store.
 *
 * ```toml
 * [plugins."io.containerd.differ.v1.walking"]
 *   apply_worker_idle_seconds = 60   # how long an idle apply worker is kept (see apply-workers.ts)
 * ```
 */
export const walkingDifferPlugin: Registration<Differ> = {
  type: PluginType.differ,
  id: 'walking',
  requires: [PluginType.metadata],
  platforms: [hostPlatform()],
  init(ic) {
    // Temporary mounts for applying into overlay snapshots live under the
    // volatile state: a reboot clears whatever a crash left mounted.
    const tempDir = join(ic.stateDir(), 'tmpmounts');
    mkdirSync(tempDir, { recursive: true, mode: 0o700 });
    const content = ic.get(MetadataKey).content;
    const workers = new ApplyWorkers({ idleMs: applyWorkerIdleMs(ic.config) });
    return {
      applier: new WalkingApplier(content, { tempDir, workers }),
      comparer: new WalkingComparer(content, { tempDir }),
    };
  },
};

/** `apply_worker_idle_seconds` of the plugin's config table, in ms (default IDLE_MS). */
export function applyWorkerIdleMs(config: Readonly<Record<string, unknown>>): number {
  const raw = config.apply_worker_idle_seconds;
  if (raw === undefined) return IDLE_MS;
  if (typeof raw !== 'number' || !Number.isFinite(raw) || raw < 0) {
    throw invalidArgument(
      'plugins."io.containerd.differ.v1.walking": apply_worker_idle_seconds must be a number of seconds, 0 or more',
    );
  }
  return Math.round(raw * 1000);
}
