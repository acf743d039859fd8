/**
 * Keys of the plugins other layers use, typed by the domain's contracts so
 * that a consumer imports the key, never the implementation. A provider may
 * keep a richer key of its own for the same plugin (metadata does).
 */
import type { ContainerStore } from '../core/containers/index.js';
import type { ContentStore } from '../core/content/index.js';
import type { Applier, Comparer } from '../core/diff/index.js';
import type { EventService } from '../core/events/index.js';
import type { GcScheduler } from '../core/gc/index.js';
import type { ImageStore } from '../core/images/index.js';
import type { LeaseManager } from '../core/leases/index.js';
import type { NamespaceStore } from '../core/namespaces/index.js';
import type { Snapshotter } from '../core/snapshots/index.js';
import type { TaskManager } from '../core/tasks/index.js';
import type { StreamManager, Transferrer } from '../core/transfer/index.js';
import { PluginType, pluginKey } from './registration.js';

/** What the metadata plugin offers other layers: its namespaced stores. */
export interface MetadataStores {
  readonly content: ContentStore;
  readonly containers: ContainerStore;
}

/** The walking differ: applies layers into snapshots, makes layers from two mounts. */
export interface Differ {
  readonly applier: Applier;
  readonly comparer: Comparer;
}

/** The blob store without namespaces, which the metadata plugin namespaces. */
export const ContentKey = pluginKey<ContentStore>(PluginType.content, 'content');
export const ExchangeKey = pluginKey<EventService>(PluginType.event, 'exchange');
export const MetadataKey = pluginKey<MetadataStores>(PluginType.metadata, 'sqlite');
export const GcKey = pluginKey<GcScheduler>(PluginType.gc, 'scheduler');
export const LeasesKey = pluginKey<LeaseManager>(PluginType.lease, 'manager');
export const NamespacesServiceKey = pluginKey<NamespaceStore>(
  PluginType.service,
  'namespaces-service',
);
export const ContentServiceKey = pluginKey<ContentStore>(PluginType.service, 'content-service');
export const ImagesServiceKey = pluginKey<ImageStore>(PluginType.service, 'images-service');
export const ContainersServiceKey = pluginKey<ContainerStore>(
  PluginType.service,
  'containers-service',
);
/** Namespaced snapshotters by name (`overlayfs`, `native`). */
export const SnapshotsServiceKey = pluginKey<ReadonlyMap<string, Snapshotter>>(
  PluginType.service,
  'snapshots-service',
);
export const DifferKey = pluginKey<Differ>(PluginType.differ, 'walking');
export const TaskManagerKey = pluginKey<TaskManager>(PluginType.runtimeV2, 'task');
/** Open transfer streams by namespace and id (containerd's streaming `manager`). */
export const StreamsKey = pluginKey<StreamManager>(PluginType.streaming, 'manager');
/** The local transfer service (containerd's `io.containerd.transfer.v1` `local`). */
export const TransferKey = pluginKey<Transferrer>(PluginType.transfer, 'local');
