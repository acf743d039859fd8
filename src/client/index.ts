/**
 * @module client
 * berth's TypeScript client for berthd's (and containerd's) gRPC API,
 * shaped like containerd's Go client: `new Client(address, { namespace })`,
 * images (`pull`, `push`, `import`, `export`), containers (`newContainer`
 * with options), tasks and processes with their IO (`cio`), events
 * (`subscribe`), and containerd's error kinds (`isNotFound`, …). It imports
 * nothing of the daemon.
 */

export type { Creator, IO, IOConfig } from './cio/index.js';
export * as cio from './cio/index.js';
export { Client, type ClientOptions, Connection, DEFAULT_ADDRESS } from './client.js';
export { Container, type DeleteOptions, type NewTaskOptions } from './container.js';
export {
  DEFAULT_RUNTIME,
  DEFAULT_SNAPSHOTTER,
  type NewContainerOpt,
  RUNC_OPTIONS_TYPE_URL,
  withContainerExtension,
  withContainerLabels,
  withImage,
  withImageName,
  withNewSnapshot,
  withNewSpec,
  withRuntime,
  withSnapshot,
  withSnapshotter,
  withSpec,
} from './container-opts.js';
export { ContainersProxy } from './containers-proxy.js';
export { ContentProxy } from './content-proxy.js';
export { DiffProxy } from './diff-proxy.js';
export * from './errors.js';
export { type Event, EventsProxy } from './events.js';
export { Image, type ImageCallOpts, type ImageConfigJson } from './image.js';
export type { ExportOpts, ImportOpts, PullOpts, PushOpts, RegistryOpts } from './image-ops.js';
export { ImagesProxy } from './images-proxy.js';
export { LeasesProxy } from './leases-proxy.js';
export {
  type CgroupMetrics,
  type CgroupV1Metrics,
  type CgroupV2Metrics,
  decodeMetrics,
} from './metrics.js';
export { NamespacesProxy } from './namespaces-proxy.js';
/** containerd's OCI spec generation: the default spec and the spec options (`oci.withImageConfig`, …). */
export * as oci from './oci/index.js';
export { type CallContext, Rpc } from './rpc.js';
export { SnapshotsProxy } from './snapshots-proxy.js';
export {
  type CallOpts,
  type ExitStatus,
  type Metrics,
  PROCESS_TYPE_URL,
  Process,
  type ProcessInfo,
  type Signal,
  SPEC_TYPE_URL,
  type Status,
  signalNumber,
  Task,
} from './task.js';
