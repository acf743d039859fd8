import {
  IntrospectionService,
  type Plugin,
  type PluginInfoRequest,
  type PluginsRequest,
} from '../../api/containerd/services/introspection/v1/introspection.js';
import { kindOf, notFound, notImplemented } from '../../core/errdefs/index.js';
import { type Adaptor, parseFilters } from '../../core/filters/index.js';
import { KIND_TO_CODE } from '../../server/grpc-errors.js';
import { type GrpcService, unary } from '../../server/service.js';

/** What introspection reports about one plugin (a view of the daemon's PluginSet). */
export interface PluginStatus {
  type: string;
  id: string;
  requires: readonly string[];
  platforms: readonly { os: string; architecture: string; variant?: string }[];
  exports: Readonly<Record<string, string>>;
  capabilities: readonly string[];
  /** Set when the plugin failed to initialise or was skipped. */
  error?: Error;
}

export interface ServerIdentity {
  uuid: string;
  pid: number;
  /** Inode of the daemon's pid namespace (0 if unknown). */
  pidns: bigint;
}

/** containerd.services.introspection.v1.Introspection. */
export function introspectionService(opts: {
  plugins: () => readonly PluginStatus[];
  server: () => ServerIdentity;
}): GrpcService {
  return {
    name: 'containerd.services.introspection.v1.Introspection',
    definition: IntrospectionService,
    namespaced: false,
    handlers: {
      Plugins: unary((_ctx, req: PluginsRequest) => {
        const filter = parseFilters(req.filters);
        return {
          plugins: opts
            .plugins()
            .map(toProto)
            .filter((p) => filter.match(pluginAdaptor(p))),
        };
      }),
      Server: unary(() => {
        const s = opts.server();
        return { uuid: s.uuid, pid: BigInt(s.pid), pidns: s.pidns, deprecations: [] };
      }),
      PluginInfo: unary((_ctx, req: PluginInfoRequest) => {
        const p = opts.plugins().find((x) => x.type === req.type && x.id === req.id);
        if (!p) throw notFound(`plugin ${JSON.stringify(`${req.type}.${req.id}`)}`);
        if (req.options) {
          throw notImplemented(
            `plugin ${JSON.stringify(`${req.type}.${req.id}`)} does not take info options`,
          );
        }
        return { plugin: toProto(p) };
      }),
    },
  };
}

function toProto(p: PluginStatus): Plugin {
  return {
    type: p.type,
    id: p.id,
    requires: [...p.requires],
    platforms: p.platforms.map((x) => ({
      os: x.os,
      architecture: x.architecture,
      variant: x.variant ?? '',
      osVersion: '',
    })),
    exports: { ...p.exports },
    capabilities: [...p.capabilities],
    initErr: p.error
      ? { code: KIND_TO_CODE[kindOf(p.error)], message: p.error.message, details: [] }
      : undefined,
  };
}

/** Filterable fields, as containerd: `type` and `id`. */
function pluginAdaptor(p: Plugin): Adaptor {
  return (path) => {
    if (path.length !== 1) return undefined;
    if (path[0] === 'type') return p.type || undefined;
    if (path[0] === 'id') return p.id || undefined;
    return undefined;
  };
}
