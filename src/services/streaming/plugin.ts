import { PluginType, type Registration, StreamsKey } from '../../plugin/index.js';
import type { GrpcService } from '../../server/service.js';
import { streamingService } from './service.js';

export const streamingGrpcPlugin: Registration<GrpcService> = {
  type: PluginType.grpc,
  id: 'streaming',
  requires: [PluginType.streaming],
  init: (ic) => streamingService(ic.get(StreamsKey)),
};
