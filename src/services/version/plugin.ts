import { PluginType, type Registration } from '../../plugin/index.js';
import type { GrpcService } from '../../server/service.js';
import { versionService } from './service.js';

export const versionGrpcPlugin: Registration<GrpcService> = {
  type: PluginType.grpc,
  id: 'version',
  requires: [],
  init: (ic) => versionService(ic.daemon.version),
};
