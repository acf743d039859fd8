import { VersionService } from '../../api/containerd/services/version/v1/version.js';
import { type GrpcService, unary } from '../../server/service.js';

export interface VersionInfo {
  version: string;
  revision: string;
}

/** containerd.services.version.v1.Version. */
export function versionService(info: VersionInfo): GrpcService {
  return {
    name: 'containerd.services.version.v1.Version',
    definition: VersionService,
    namespaced: false,
    handlers: {
      Version: unary(() => ({ version: info.version, revision: info.revision })),
    },
  };
}
