/**
 * @module store
 * What the CRI's in-memory stores share: ids by unique prefix and names
 * reserved for ids (sandboxes and containers alike).
 */
export { NameIndex } from './name-index.js';
export { TruncIndex } from './truncindex.js';
