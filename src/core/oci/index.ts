/**
 * @module
 * The OCI runtime spec's types and containerd's Linux spec defaults: pure
 * data shared by the client's spec options (src/client/oci) and the CRI's
 * spec builders (src/cri/opts), as containerd's one `oci` package serves both.
 */
export * from './defaults.js';
export * from './devices.js';
export type * from './types.js';
