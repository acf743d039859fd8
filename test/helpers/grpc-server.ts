import { Metadata, type ServiceError } from '@grpc/grpc-js';
import { fromGrpcError } from '../../src/client/errors.js';
import { nullLogger } from '../../src/core/log/index.js';
import { GrpcServer } from '../../src/server/server.js';
import type { GrpcService } from '../../src/server/service.js';

/**
 * A started berth gRPC server for `services` on the unix socket `socket`
 * (inside a test's temp dir), owned by the current user so that unit tests
 * need no root. Stop it with `server.stop()`.
 */
export async function serveForTest(socket: string, services: GrpcService[]): Promise<GrpcServer> {
  const server = new GrpcServer(
    {
      address: socket,
      uid: process.getuid?.() ?? 0,
      gid: process.getgid?.() ?? 0,
      log: nullLogger,
    },
    services,
  );
  await server.start();
  return server;
}

/** gRPC metadata carrying containerd's namespace header (none when undefined). */
export function namespaceMetadata(namespace?: string): Metadata {
  const m = new Metadata();
  if (namespace !== undefined) m.set('containerd-namespace', namespace);
  return m;
}

/** A callback-style generated client call as a promise; errors become berth errors. */
export function promiseCall<Res>(
  start: (cb: (err: ServiceError | null, res: Res) => void) => unknown,
): Promise<Res> {
  return new Promise<Res>((resolve, reject) =>
    start((err, res) => (err ? reject(fromGrpcError(err)) : resolve(res))),
  );
}
