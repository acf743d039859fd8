import { PluginType, type Registration } from '../../plugin/index.js';
import type { GrpcService } from '../../server/service.js';
import { healthService } from './service.js';

/** `healthcheck`: SERVING for every loaded gRPC service until the daemon begins to stop. */
export const healthGrpcPlugin: Registration<GrpcService> = {
  type: PluginType.grpc,
  id: 'healthcheck',
  requires: [],
  init: (ic) =>
    healthService({
      services: () =>
        [...ic.getByType<GrpcService | GrpcService[]>(PluginType.grpc).values()]
          .flat()
          .map((s) => s.name),
      shuttingDown: () => ic.daemon.shuttingDown(),
    }),
};
