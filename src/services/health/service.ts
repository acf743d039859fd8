import {
  type HealthCheckRequest,
  HealthService,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from '../../api/grpc/health/v1/health.js';
import { notFound } from '../../core/errdefs/index.js';
import { type GrpcService, serverStream, unary } from '../../server/service.js';

/**
 * The standard grpc.health.v1.Health service. The empty service name means
 * the whole server; it reports NOT_SERVING once shutdown has begun.
 */
export function healthService(opts: {
  services: () => readonly string[];
  shuttingDown: () => boolean;
}): GrpcService {
  const statusOf = (service: string): ServingStatus => {
    if (service !== '' && !opts.services().includes(service)) {
      throw notFound(`service ${JSON.stringify(service)}`);
    }
    return opts.shuttingDown() ? ServingStatus.NOT_SERVING : ServingStatus.SERVING;
  };
  return {
    name: 'grpc.health.v1.Health',
    definition: HealthService,
    namespaced: false,
    handlers: {
      Check: unary((_ctx, req: HealthCheckRequest) => ({ status: statusOf(req.service) })),
      // Watch sends the current status, then holds the stream until the
      // client goes away or the server stops.
      Watch: serverStream(async (ctx, req: HealthCheckRequest, send) => {
        await send({ status: statusOf(req.service) });
        await new Promise<void>((resolve) => {
          if (ctx.signal.aborted) resolve();
          ctx.signal.addEventListener('abort', () => resolve(), { once: true });
        });
      }),
    },
  };
}
