/**
 * @module namespaces
 * Namespaces partition every resource (images, containers, content,
 * snapshots, leases). Operations receive theirs through an {@link OpContext}.
 */
export * from './context.js';
export * from './store.js';
