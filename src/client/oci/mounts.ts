/**
 * @module
 * The mounts every default Linux container gets (containerd's
 * `oci.defaultMounts`), defined in src/core/oci with the other defaults.
 */
export { defaultMounts } from '../../core/oci/index.js';
