import { invalidArgument } from '../core/errdefs/index.js';
import type { ImageStores } from '../core/transfer/index.js';
import {
  ContentServiceKey,
  DifferKey,
  ImagesServiceKey,
  LeasesKey,
  SnapshotsServiceKey,
} from './keys.js';
import type { InitContext } from './registration.js';

/**
 * The stores berthd's image operations run on (the metadata's namespaced
 * stores, the lease manager, the snapshotters, the walking differ), from a
 * plugin's init context: for the plugins that pull, push and unpack in the
 * daemon (Transfer's `local`, the CRI). The plugin must require the lease,
 * service and differ plugin types.
 */
export function imageStores(ic: InitContext): ImageStores {
  const snapshotters = ic.get(SnapshotsServiceKey);
  return {
    content: ic.get(ContentServiceKey),
    images: ic.get(ImagesServiceKey),
    leases: ic.get(LeasesKey),
    snapshotter(name) {
      const s = snapshotters.get(name);
      if (s === undefined) throw invalidArgument(`snapshotter ${JSON.stringify(name)} not loaded`);
      return s;
    },
    applier: ic.get(DifferKey).applier,
  };
}
