import { statSync } from 'node:fs';
import { type PluginRecord, PluginType, type Registration } from '../../plugin/index.js';
import type { GrpcService } from '../../server/service.js';
import { introspectionService, type PluginStatus } from './service.js';
import { loadOrCreateUUID } from './uuid.js';

/** `introspection`: every plugin the daemon knows, and the server's identity. */
export const introspectionGrpcPlugin: Registration<GrpcService> = {
  type: PluginType.grpc,
  id: 'introspection',
  requires: [],
  init(ic) {
    const uuid = loadOrCreateUUID(ic.rootDir());
    const pidns = pidNamespaceInode();
    return introspectionService({
      plugins: () => ic.plugins().map(pluginStatus),
      server: () => ({ uuid, pid: process.pid, pidns }),
    });
  },
};

function pluginStatus(r: PluginRecord): PluginStatus {
  const reg = r.registration;
  return {
    type: reg.type,
    id: reg.id,
    requires: reg.requires ?? [],
    platforms: reg.platforms ?? [],
    exports: r.exports,
    capabilities: reg.capabilities ?? [],
    ...(r.error && { error: r.error }),
  };
}

function pidNamespaceInode(): bigint {
  try {
    return BigInt(statSync('/proc/self/ns/pid').ino);
  } catch {
    return 0n;
  }
}
