/**
 * @module client
 * berth's TypeScript client for berthd's (and containerd's) gRPC API.
 */
export { BerthClient, type ClientOptions } from './client.js';
export { ContentProxy } from './content-proxy.js';
export { CODE_TO_KIND, fromGrpcError } from './errors.js';
