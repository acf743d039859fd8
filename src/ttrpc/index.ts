/**
 * @module
 * ttrpc (github.com/containerd/ttrpc, the protocol containerd's shims speak):
 * a unary client and server over unix sockets. Payloads are encoded
 * protobuf messages; the caller encodes and decodes them with the generated
 * code in src/api. Failures travel as google.rpc.Status with the same codes
 * as gRPC, mapped through src/core/errdefs/status-codes.ts.
 */
export { type TtrpcCallOptions, TtrpcClient, type TtrpcConnectOptions } from './client.js';
export {
  decodeHeader,
  encodeFrame,
  type Frame,
  FrameDecoder,
  type FrameHeader,
  HEADER_LENGTH,
  MAX_MESSAGE_LENGTH,
  MessageType,
} from './frame.js';
export type { TtrpcMetadataInit } from './metadata.js';
export {
  type TtrpcHandler,
  type TtrpcRequestContext,
  TtrpcServer,
  type TtrpcServerOptions,
} from './server.js';
export { socketPath } from './socket-path.js';
export { errorToStatus, statusToError } from './status.js';
