import { ExchangeKey, PluginType, type Registration } from '../../plugin/index.js';
import type { GrpcService } from '../../server/service.js';
import { eventsService } from './service.js';

export const eventsGrpcPlugin: Registration<GrpcService> = {
  type: PluginType.grpc,
  id: 'events',
  requires: [PluginType.event],
  init: (ic) => eventsService(ic.get(ExchangeKey)),
};
