import {
  ContentServiceKey,
  ExchangeKey,
  PluginType,
  type Registration,
} from '../../plugin/index.js';
import type { GrpcService } from '../../server/service.js';
import { contentService } from './service.js';

export const contentGrpcPlugin: Registration<GrpcService> = {
  type: PluginType.grpc,
  id: 'content',
  requires: [PluginType.service, PluginType.event],
  init: (ic) => contentService(ic.get(ContentServiceKey), ic.get(ExchangeKey)),
};
