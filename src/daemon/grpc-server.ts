import type { Logger } from '../core/log/index.js';
import { GrpcServer } from '../server/server.js';
import type { Config } from './config.js';

/**
 * berthd's gRPC server as its config describes it, not yet listening. It
 * imports only the transport (src/server), so main.ts can bind the socket
 * before it loads the plugins' modules.
 */
export function grpcServer(config: Config, log: Logger): GrpcServer {
  const { grpc } = config;
  return new GrpcServer(
    {
      address: grpc.address,
      uid: grpc.uid,
      gid: grpc.gid,
      maxRecvMessageSize: grpc.maxRecvMessageSize,
      maxSendMessageSize: grpc.maxSendMessageSize,
      log,
    },
    [],
  );
}
