import { DifferKey, PluginType, type Registration } from '../../plugin/index.js';
import type { GrpcService } from '../../server/service.js';
import { diffService } from './service.js';

export const diffGrpcPlugin: Registration<GrpcService> = {
  type: PluginType.grpc,
  id: 'diff',
  requires: [PluginType.differ],
  init(ic) {
    const d = ic.get(DifferKey);
    return diffService(d.applier, d.comparer);
  },
};
