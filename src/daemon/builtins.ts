import { contentPlugin } from '../content/plugin.js';
import { criPlugin } from '../cri/plugin.js';
import { walkingDifferPlugin } from '../diff/plugin.js';
import { exchangePlugin } from '../events/plugin.js';
import { gcSchedulerPlugin, leaseManagerPlugin, metadataPlugin } from '../metadata/plugin.js';
import {
  containersServicePlugin,
  contentServicePlugin,
  imagesServicePlugin,
  namespacesServicePlugin,
  snapshotsServicePlugin,
} from '../metadata/service-plugins.js';
import type { Registration } from '../plugin/index.js';
import { restartPlugin } from '../restart/plugin.js';
import { TaskCheckpointer } from '../runtime/checkpoint.js';
import { taskPlugin } from '../runtime/v2/plugin.js';
import { containersGrpcPlugin } from '../services/containers/plugin.js';
import { contentGrpcPlugin } from '../services/content/plugin.js';
import { diffGrpcPlugin } from '../services/diff/plugin.js';
import { eventsGrpcPlugin } from '../services/events/plugin.js';
import { ttrpcPlugin } from '../services/events/ttrpc-plugin.js';
import { healthGrpcPlugin } from '../services/health/plugin.js';
import { imagesGrpcPlugin } from '../services/images/plugin.js';
import { introspectionGrpcPlugin } from '../services/introspection/plugin.js';
import { leasesGrpcPlugin } from '../services/leases/plugin.js';
import { namespacesGrpcPlugin } from '../services/namespaces/plugin.js';
import { snapshotsGrpcPlugin } from '../services/snapshots/plugin.js';
import { streamingGrpcPlugin } from '../services/streaming/plugin.js';
import { tasksGrpcPlugin } from '../services/tasks/plugin.js';
import { transferGrpcPlugin } from '../services/transfer/plugin.js';
import { versionGrpcPlugin } from '../services/version/plugin.js';
import { nativePlugin, overlayfsPlugin } from '../snapshots/plugin.js';
import { loadImageOps } from '../transfer/load-ops.js';
import { localTransferPlugin, streamManagerPlugin } from '../transfer/plugin.js';
import {
  containerDelete,
  containerUpdate,
  eventFields,
  snapshotRemove,
  taskExit,
} from '../wire/event-payloads.js';

/**
 * Every plugin berthd loads, in one explicit list; each registration lives
 * beside its implementation and nothing registers itself on import. The
 * loader orders them by what they require and keeps this order otherwise,
 * which is the order `ctr plugins ls` shows.
 */
export const BUILTINS: readonly Registration<unknown>[] = [
  // The exchange decodes payloads for `event.<field>` filters with the wire's codecs.
  exchangePlugin(eventFields),
  contentPlugin,
  overlayfsPlugin,
  nativePlugin,
  metadataPlugin,
  gcSchedulerPlugin,
  leaseManagerPlugin,
  namespacesServicePlugin,
  contentServicePlugin,
  imagesServicePlugin,
  containersServicePlugin,
  snapshotsServicePlugin,
  walkingDifferPlugin,
  ttrpcPlugin,
  taskPlugin,
  // Services may not import the runtime: the runtime's checkpointer is passed in.
  tasksGrpcPlugin((opts) => new TaskCheckpointer(opts)),
  containersGrpcPlugin,
  contentGrpcPlugin,
  diffGrpcPlugin,
  eventsGrpcPlugin,
  imagesGrpcPlugin,
  leasesGrpcPlugin,
  snapshotsGrpcPlugin,
  namespacesGrpcPlugin,
  versionGrpcPlugin,
  introspectionGrpcPlugin,
  healthGrpcPlugin,
  streamManagerPlugin,
  // The registry client and image operations load on the first transfer.
  localTransferPlugin(loadImageOps),
  streamingGrpcPlugin,
  transferGrpcPlugin,
  // Kubernetes' CRI (RuntimeService, ImageService) in namespace k8s.io.
  criPlugin,
  // The restart monitor (containerd's `restart`); restart never imports the API: it gets the wire's codecs.
  restartPlugin({
    decodeTaskExit: (e) => taskExit.decode(e.value),
    containerUpdate: (c) =>
      containerUpdate({ id: c.id, image: c.image, labels: c.labels, snapshotKey: c.snapshotKey }),
    containerDelete: (id) => containerDelete({ id }),
    snapshotRemove: (key) => snapshotRemove({ key }),
  }),
];
