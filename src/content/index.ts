/**
 * @module content
 * The local, file-based content store in containerd's layout. Construct it on
 * `<berth root>/io.containerd.content.v1.content`.
 */
export type { Cleanup } from './ingest.js';
export { LocalContentStore, type LocalContentStoreOptions } from './local-store.js';
