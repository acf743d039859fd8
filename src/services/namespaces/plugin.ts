import {
  ExchangeKey,
  NamespacesServiceKey,
  PluginType,
  type Registration,
} from '../../plugin/index.js';
import type { GrpcService } from '../../server/service.js';
import { namespacesService } from './service.js';

export const namespacesGrpcPlugin: Registration<GrpcService> = {
  type: PluginType.grpc,
  id: 'namespaces',
  requires: [PluginType.service, PluginType.event],
  init: (ic) => namespacesService(ic.get(NamespacesServiceKey), ic.get(ExchangeKey)),
};
