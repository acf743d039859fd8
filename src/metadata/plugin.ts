import { join } from 'node:path';
import type { ContentStore } from '../core/content/index.js';
import type { Snapshotter } from '../core/snapshots/index.js';
import {
  ContentKey,
  GcKey,
  MetadataKey,
  type MetadataStores,
  PluginType,
  pluginKey,
  type Registration,
} from '../plugin/index.js';
import { Deletions } from './deletions.js';
import {
  MetadataContentStore,
  MetadataDB,
  MetadataGc,
  MetadataSnapshotter,
  SqliteContainerStore,
  SqliteLeaseManager,
} from './index.js';

/**
 * The metadata plugin's instance: the database, the namespaced stores over
 * the blob store and the snapshotters, and the collector that sweeps them.
 */
export interface Metadata extends MetadataStores {
  readonly db: MetadataDB;
  readonly content: MetadataContentStore;
  /** Namespaced snapshotters by plugin id (`overlayfs`, `native`). */
  readonly snapshotters: ReadonlyMap<string, MetadataSnapshotter>;
  readonly containers: SqliteContainerStore;
  readonly gc: MetadataGc;
}

/** The metadata plugin as the metadata layer's own plugins see it (other layers use {@link MetadataKey}). */
export const SqliteMetadataKey = pluginKey<Metadata>(MetadataKey.type, MetadataKey.id);

/**
 * `io.containerd.metadata.v1` `sqlite`: one SQLite file under the plugin's
 * root, namespacing the blob store and every loaded snapshotter.
 */
export const metadataPlugin: Registration<Metadata> = {
  type: PluginType.metadata,
  id: 'sqlite',
  requires: [PluginType.content, PluginType.snapshotter],
  init(ic) {
    const path = join(ic.rootDir(), 'meta.db');
    ic.exports.path = path;
    const db = new MetadataDB({ path });
    const backend: ContentStore = ic.get(ContentKey);
    const deletions = new Deletions();
    const content = new MetadataContentStore(db, backend, deletions.notify);
    const snapshotters = new Map<string, MetadataSnapshotter>();
    for (const [id, sn] of ic.getByType<Snapshotter>(PluginType.snapshotter)) {
      snapshotters.set(id, new MetadataSnapshotter(db, id, sn, deletions.notify));
    }
    const containers = new SqliteContainerStore(db, deletions.notify);
    const gc = new MetadataGc({
      mdb: db,
      backend,
      committing: () => content.committing(),
      snapshotters: [...snapshotters.values()],
      log: ic.log,
    });
    deletions.subscribe(() => gc.schedule());
    // A crash can leave blobs or snapshots without records (between a
    // backend call and its record, or mid-sweep): a first collection soon
    // after start clears them.
    gc.scheduleIn(100);
    return { db, content, snapshotters, containers, gc };
  },
  async close(m) {
    await m.gc.close();
    m.db.close();
  },
};

/** `io.containerd.gc.v1` `scheduler`: the metadata plugin's collector. */
export const gcSchedulerPlugin: Registration<MetadataGc> = {
  type: PluginType.gc,
  id: 'scheduler',
  requires: [PluginType.metadata],
  init: (ic) => ic.get(SqliteMetadataKey).gc,
};

/** `io.containerd.lease.v1` `manager`: leases in the metadata DB; sync deletes collect. */
export const leaseManagerPlugin: Registration<SqliteLeaseManager> = {
  type: PluginType.lease,
  id: 'manager',
  requires: [PluginType.metadata, PluginType.gc],
  init: (ic) => new SqliteLeaseManager(ic.get(SqliteMetadataKey).db, ic.get(GcKey)),
};
