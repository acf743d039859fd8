/**
 * @module plugin
 * The plugin contract: what an implementation registers, what its init
 * receives, and the typed keys by which plugins find each other. Each
 * registration lives beside its implementation (`src/content/plugin.ts`,
 * `src/services/images/plugin.ts`, ...); `src/daemon` loads them.
 */
export * from './image-stores.js';
export * from './keys.js';
export * from './platform.js';
export * from './registration.js';
