import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { NamespaceStore } from '../core/namespaces/index.js';
import { EventExchange } from '../events/index.js';
import { MetadataDB, SqliteNamespaceStore } from '../metadata/index.js';
import type { GrpcService } from '../server/service.js';
import { eventFields } from '../services/events/payloads.js';
import { eventsService } from '../services/events/service.js';
import { healthService } from '../services/health/service.js';
import { introspectionService, type PluginStatus } from '../services/introspection/service.js';
import { namespacesService } from '../services/namespaces/service.js';
import { versionService } from '../services/version/service.js';
import { type PluginRecord, PluginType, pluginKey, type Registration } from './plugin.js';
import { loadOrCreateUUID } from './server-uuid.js';
import { readVersion } from './version.js';

/** containerd's plugin type for the event exchange. */
const EventPluginType = 'io.containerd.event.v1';

export const ExchangeKey = pluginKey<EventExchange>(EventPluginType, 'exchange');
export const MetadataKey = pluginKey<MetadataDB>(PluginType.metadata, 'sqlite');
export const NamespacesServiceKey = pluginKey<NamespaceStore>(
  PluginType.service,
  'namespaces-service',
);

/** State the daemon shares with the plugins it wires (health reads it). */
export interface DaemonState {
  shuttingDown(): boolean;
}

/**
 * Every plugin berthd runs, in one explicit list. Each is constructed from
 * its dependencies here; nothing registers itself on import.
 */
export function builtins(daemon: DaemonState): Registration<unknown>[] {
  const metadata: Registration<MetadataDB> = {
    type: PluginType.metadata,
    id: 'sqlite',
    init(ic) {
      const path = join(ic.rootDir(), 'meta.db');
      ic.exports.path = path;
      return new MetadataDB({ path });
    },
    close: (db) => db.close(),
  };

  // Subscribers are ended on close; by then the server has stopped and
  // ended their streams already.
  const exchange: Registration<EventExchange> = {
    type: EventPluginType,
    id: 'exchange',
    init: (ic) => new EventExchange({ decode: eventFields, log: ic.log }),
    close: (ex) => ex.close(),
  };

  const namespaces: Registration<NamespaceStore> = {
    type: PluginType.service,
    id: 'namespaces-service',
    requires: [PluginType.metadata],
    init: (ic) => new SqliteNamespaceStore(ic.get(MetadataKey)),
  };

  const grpc = (
    id: string,
    requires: string[],
    make: (ic: Parameters<Registration<GrpcService>['init']>[0]) => GrpcService,
  ): Registration<GrpcService> => ({ type: PluginType.grpc, id, requires, init: make });

  return [
    exchange,
    metadata,
    namespaces,
    grpc('events', [EventPluginType], (ic) => eventsService(ic.get(ExchangeKey))),
    grpc('namespaces', [PluginType.service, EventPluginType], (ic) =>
      namespacesService(ic.get(NamespacesServiceKey), ic.get(ExchangeKey)),
    ),
    grpc('version', [], () => versionService(readVersion())),
    grpc('introspection', [], (ic) => {
      const uuid = loadOrCreateUUID(ic.rootDir());
      const pidns = pidNamespaceInode();
      return introspectionService({
        plugins: () => ic.plugins().map(pluginStatus),
        server: () => ({ uuid, pid: process.pid, pidns }),
      });
    }),
    grpc('healthcheck', [], (ic) =>
      healthService({
        services: () => ic.getByType<GrpcService>(PluginType.grpc).map((s) => s.name),
        shuttingDown: () => daemon.shuttingDown(),
      }),
    ),
  ];
}

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
