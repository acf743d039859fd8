/**
 * @module metadata
 * The namespaced, transactional metadata store (SQLite): the one place that
 * knows the schema. Domain stores are built on a {@link MetadataDB}.
 */
export { SqliteContainerStore } from './containers.js';
export { backendRef, INGEST_EXPIRY_NANOS, MetadataContentStore } from './content.js';
export { MetadataDB, type MetadataDBOptions } from './db.js';
export { type GcOptions, type GcSnapshotter, labelRefs, MetadataGc } from './gc.js';
export { imageAdaptor, SqliteImageStore } from './images.js';
export {
  addLeaseResourceTx,
  leaseAdaptor,
  MAX_LEASE_ID_LENGTH,
  removeLeaseResourceTx,
  SqliteLeaseManager,
  validateLeaseId,
} from './leases.js';
export { MIGRATIONS, type Migration } from './migrations.js';
export { ensureNamespace, SqliteNamespaceStore } from './namespaces.js';
export { MetadataSnapshotter } from './snapshots.js';
