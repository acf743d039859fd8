import {
  ExchangeKey,
  PluginType,
  type Registration,
  SnapshotsServiceKey,
} from '../../plugin/index.js';
import type { GrpcService } from '../../server/service.js';
import { snapshotsService } from './service.js';

export const snapshotsGrpcPlugin: Registration<GrpcService> = {
  type: PluginType.grpc,
  id: 'snapshots',
  requires: [PluginType.service, PluginType.event],
  init: (ic) => snapshotsService(ic.get(SnapshotsServiceKey), ic.get(ExchangeKey)),
};
