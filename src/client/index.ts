/**
 * @module client
 * berth's TypeScript client for berthd's (and containerd's) gRPC API.
 */
export { BerthClient, type ClientOptions } from './client.js';
export { ContentProxy } from './content-proxy.js';
export { CODE_TO_KIND, fromGrpcError } from './errors.js';
/** containerd's OCI spec generation: the default spec and the spec options (`oci.withImageConfig`, …). */
export * as oci from './oci/index.js';
