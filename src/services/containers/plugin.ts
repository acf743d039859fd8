import {
  ContainersServiceKey,
  ExchangeKey,
  PluginType,
  type Registration,
} from '../../plugin/index.js';
import type { GrpcService } from '../../server/service.js';
import { containersService } from './service.js';

export const containersGrpcPlugin: Registration<GrpcService> = {
  type: PluginType.grpc,
  id: 'containers',
  requires: [PluginType.service, PluginType.event],
  init: (ic) => containersService(ic.get(ContainersServiceKey), ic.get(ExchangeKey)),
};
