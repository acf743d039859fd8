import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  type Differ,
  hostPlatform,
  MetadataKey,
  PluginType,
  type Registration,
} from '../plugin/index.js';
import { WalkingApplier } from './apply.js';
import { WalkingComparer } from './compare.js';

/** `io.containerd.differ.v1` `walking`, over the namespaced content store. */
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
    return {
      applier: new WalkingApplier(content, { tempDir }),
      comparer: new WalkingComparer(content, { tempDir }),
    };
  },
};
