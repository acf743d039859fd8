import { PluginType, type Registration, TransferKey } from '../../plugin/index.js';
import type { GrpcService } from '../../server/service.js';
import { transferService } from './service.js';

export const transferGrpcPlugin: Registration<GrpcService> = {
  type: PluginType.grpc,
  id: 'transfer',
  requires: [PluginType.transfer, PluginType.streaming],
  init: (ic) => transferService(ic.get(TransferKey)),
};
