/**
 * @module
 * Containers in pods (the CRI RuntimeService's container calls), as
 * containerd 1.6's CRI plugin runs them; see {@link ContainerService}.
 */
export type { ImageLookup, ResolvedImage, StatsCollector, StreamingUrls } from './deps.js';
export { ContainerService, type ContainerServiceOptions, K8S_NAMESPACE } from './service.js';
export { parseSignal } from './signal.js';
