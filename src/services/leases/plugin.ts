import { LeasesKey, PluginType, type Registration } from '../../plugin/index.js';
import type { GrpcService } from '../../server/service.js';
import { leasesService } from './service.js';

export const leasesGrpcPlugin: Registration<GrpcService> = {
  type: PluginType.grpc,
  id: 'leases',
  requires: [PluginType.lease],
  init: (ic) => leasesService(ic.get(LeasesKey)),
};
