import type { ContainerStore } from '../core/containers/index.js';
import type { ContentStore } from '../core/content/index.js';
import type { ImageStore } from '../core/images/index.js';
import type { NamespaceStore } from '../core/namespaces/index.js';
import type { Snapshotter } from '../core/snapshots/index.js';
import { PluginType, type Registration } from '../plugin/index.js';
import { SqliteImageStore, SqliteNamespaceStore } from './index.js';
import { SqliteMetadataKey } from './plugin.js';

/*
 * The `io.containerd.service.v1` plugins: the stores the gRPC services
 * adapt, each over the metadata plugin (containerd's `*-service` plugins).
 */

export const namespacesServicePlugin: Registration<NamespaceStore> = {
  type: PluginType.service,
  id: 'namespaces-service',
  requires: [PluginType.metadata],
  init: (ic) => {
    // Delete collects first: a namespace whose only content is garbage goes at once.
    const m = ic.get(SqliteMetadataKey);
    return new SqliteNamespaceStore(m.db, m.gc);
  },
};

export const contentServicePlugin: Registration<ContentStore> = {
  type: PluginType.service,
  id: 'content-service',
  requires: [PluginType.metadata],
  init: (ic) => ic.get(SqliteMetadataKey).content,
};

export const imagesServicePlugin: Registration<ImageStore> = {
  type: PluginType.service,
  id: 'images-service',
  requires: [PluginType.metadata],
  init: (ic) => new SqliteImageStore(ic.get(SqliteMetadataKey).db),
};

export const containersServicePlugin: Registration<ContainerStore> = {
  type: PluginType.service,
  id: 'containers-service',
  requires: [PluginType.metadata],
  init: (ic) => ic.get(SqliteMetadataKey).containers,
};

export const snapshotsServicePlugin: Registration<ReadonlyMap<string, Snapshotter>> = {
  type: PluginType.service,
  id: 'snapshots-service',
  requires: [PluginType.metadata],
  init: (ic) => ic.get(SqliteMetadataKey).snapshotters,
};
