import {
  ExchangeKey,
  GcKey,
  ImagesServiceKey,
  PluginType,
  type Registration,
} from '../../plugin/index.js';
import type { GrpcService } from '../../server/service.js';
import { imagesService } from './service.js';

export const imagesGrpcPlugin: Registration<GrpcService> = {
  type: PluginType.grpc,
  id: 'images',
  requires: [PluginType.service, PluginType.event, PluginType.gc],
  init: (ic) => imagesService(ic.get(ImagesServiceKey), ic.get(ExchangeKey), ic.get(GcKey)),
};
