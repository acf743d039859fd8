/**
 * @module content
 * The content store contract: blobs addressed by digest, written through
 * resumable ingests named by ref. Small role interfaces (Provider, Ingester,
 * IngestManager, Manager) compose into ContentStore; code asks for the
 * narrowest. The local store holds the bytes; the metadata store wraps it
 * per namespace.
 */
export * from './digest.js';
export * from './types.js';
