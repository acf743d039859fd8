import { mkdirSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { LocalContentStore } from '../content/index.js';
import type { ContainerStore } from '../core/containers/index.js';
import type { ContentStore } from '../core/content/index.js';
import type { Applier, Comparer } from '../core/diff/index.js';
import type { AnyPayload } from '../core/events/index.js';
import type { GcScheduler } from '../core/gc/index.js';
import type { ImageStore } from '../core/images/index.js';
import type { LeaseManager } from '../core/leases/index.js';
import type { Logger } from '../core/log/index.js';
import type { NamespaceStore, OpContext } from '../core/namespaces/index.js';
import type { Snapshotter } from '../core/snapshots/index.js';
import type { TaskManager } from '../core/tasks/index.js';
import { WalkingApplier, WalkingComparer } from '../diff/index.js';
import { EventExchange } from '../events/index.js';
import {
  MetadataContentStore,
  MetadataDB,
  MetadataGc,
  MetadataSnapshotter,
  SqliteContainerStore,
  SqliteImageStore,
  SqliteLeaseManager,
  SqliteNamespaceStore,
} from '../metadata/index.js';
import { TaskCheckpointer } from '../runtime/checkpoint.js';
import { type RuntimeEvents, ShimManager } from '../runtime/v2/manager.js';
import type { GrpcService } from '../server/service.js';
import { containersService } from '../services/containers/service.js';
import { contentService } from '../services/content/service.js';
import { diffService } from '../services/diff/service.js';
import { eventFields, taskDelete, taskExit } from '../services/events/payloads.js';
import { eventsService } from '../services/events/service.js';
import { registerTtrpcEvents } from '../services/events/ttrpc.js';
import { healthService } from '../services/health/service.js';
import { imagesService } from '../services/images/service.js';
import { introspectionService, type PluginStatus } from '../services/introspection/service.js';
import { leasesService } from '../services/leases/service.js';
import { namespacesService } from '../services/namespaces/service.js';
import { snapshotsService } from '../services/snapshots/service.js';
import { tasksService } from '../services/tasks/service.js';
import { toTimestamp } from '../services/timestamp.js';
import { versionService } from '../services/version/service.js';
import { NativeSnapshotter, OverlaySnapshotter, overlayAvailable } from '../snapshots/index.js';
import { removeTree } from '../sys/remove-tree.js';
import { TtrpcServer } from '../ttrpc/index.js';
import {
  type InitContext,
  type Platform,
  type PluginRecord,
  PluginType,
  pluginKey,
  type Registration,
} from './plugin.js';
import { loadOrCreateUUID } from './server-uuid.js';
import { readVersion } from './version.js';

/**
 * The metadata plugin's instance: the database and the namespaced content
 * store over the shared blob store, with the collector that sweeps both.
 */
export interface Metadata {
  db: MetadataDB;
  content: MetadataContentStore;
  /** Namespaced snapshotters by name (`overlayfs`, `native`). */
  snapshotters: Map<string, MetadataSnapshotter>;
  /** Container records (the tasks service reads them). */
  containers: ContainerStore;
  gc: MetadataGc;
}

/** The walking differ: applies layers into snapshots, makes layers from two mounts. */
export interface Differ {
  applier: Applier;
  comparer: Comparer;
}

export const ContentKey = pluginKey<ContentStore>(PluginType.content, 'content');
export const ExchangeKey = pluginKey<EventExchange>(PluginType.event, 'exchange');
export const MetadataKey = pluginKey<Metadata>(PluginType.metadata, 'sqlite');
export const GcKey = pluginKey<GcScheduler>(PluginType.gc, 'scheduler');
export const LeasesKey = pluginKey<LeaseManager>(PluginType.lease, 'manager');
export const NamespacesServiceKey = pluginKey<NamespaceStore>(
  PluginType.service,
  'namespaces-service',
);
export const ContentServiceKey = pluginKey<ContentStore>(PluginType.service, 'content-service');
export const ImagesServiceKey = pluginKey<ImageStore>(PluginType.service, 'images-service');
export const ContainersServiceKey = pluginKey<ContainerStore>(
  PluginType.service,
  'containers-service',
);
export const SnapshotsServiceKey = pluginKey<ReadonlyMap<string, Snapshotter>>(
  PluginType.service,
  'snapshots-service',
);
export const DifferKey = pluginKey<Differ>(PluginType.differ, 'walking');
export const TtrpcKey = pluginKey<TtrpcServer>(PluginType.internal, 'ttrpc');
export const TaskManagerKey = pluginKey<TaskManager>(PluginType.runtimeV2, 'task');

/** State the daemon shares with the plugins it wires (health reads it). */
export interface DaemonState {
  shuttingDown(): boolean;
  /** The gRPC socket shims are told about (`-address`). */
  readonly address: string;
  /** The ttrpc socket shims forward events to (TTRPC_ADDRESS). */
  readonly ttrpcAddress: string;
}

/** berthd's own launcher, given to shims as `-publish-binary`. */
const BERTHD_BIN = resolve(import.meta.dirname, '../../bin/berthd');

/**
 * Every plugin berthd runs, in one explicit list. Each is constructed from
 * its dependencies here; nothing registers itself on import.
 */
export function builtins(daemon: DaemonState): Registration<unknown>[] {
  const reg = <T>(
    type: string,
    id: string,
    requires: string[],
    init: (ic: InitContext) => T | Promise<T>,
    close?: (t: T) => void | Promise<void>,
  ): Registration<T> => ({ type, id, requires, init, ...(close && { close }) });

  // Plugins that touch the host's filesystem report its platform, as
  // containerd's do in `ctr plugins ls`.
  const onHost = <T>(r: Registration<T>): Registration<T> => ({
    ...r,
    platforms: [hostPlatform()],
  });

  const grpc = (id: string, requires: string[], make: (ic: InitContext) => GrpcService) =>
    reg<GrpcService>(PluginType.grpc, id, requires, make);

  return [
    // Subscribers are ended on close; by then the server has stopped and
    // ended their streams already.
    reg(
      PluginType.event,
      'exchange',
      [],
      (ic) => new EventExchange({ decode: eventFields, log: ic.log }),
      (ex) => ex.close(),
    ),
    reg(PluginType.content, 'content', [], (ic) => {
      const root = ic.rootDir();
      ic.exports.root = root;
      return new LocalContentStore(root, { log: ic.log });
    }),
    onHost(
      reg(
        PluginType.snapshotter,
        'overlayfs',
        [],
        (ic) => {
          if (!overlayAvailable())
            throw new Error('skip plugin: overlay is not supported by the kernel');
          const root = ic.rootDir();
          ic.exports.root = root;
          return new OverlaySnapshotter(root);
        },
        (s) => s.close(),
      ),
    ),
    onHost(
      reg(
        PluginType.snapshotter,
        'native',
        [],
        (ic) => {
          const root = ic.rootDir();
          ic.exports.root = root;
          return new NativeSnapshotter(root);
        },
        (s) => s.close(),
      ),
    ),
    reg<Metadata>(
      PluginType.metadata,
      'sqlite',
      [PluginType.content, PluginType.snapshotter],
      (ic) => {
        const path = join(ic.rootDir(), 'meta.db');
        ic.exports.path = path;
        const db = new MetadataDB({ path });
        const backend = ic.get(ContentKey);
        // Stores schedule collections after deletes; the collector asks
        // them which commits and snapshot operations are in flight.
        let gc: MetadataGc | undefined;
        const schedule = () => gc?.schedule();
        const content = new MetadataContentStore(db, backend, schedule);
        const snapshotters = new Map<string, MetadataSnapshotter>();
        for (const sn of ic.getByType<Snapshotter>(PluginType.snapshotter)) {
          const name = sn instanceof OverlaySnapshotter ? 'overlayfs' : 'native';
          snapshotters.set(name, new MetadataSnapshotter(db, name, sn, schedule));
        }
        gc = new MetadataGc({
          mdb: db,
          backend,
          committing: () => content.committing(),
          snapshotters: [...snapshotters.values()],
          log: ic.log,
        });
        // A crash can leave blobs or snapshots without records (between a
        // backend call and its record, or mid-sweep): a first collection
        // soon after start clears them.
        gc.scheduleIn(100);
        const containers = new SqliteContainerStore(db, schedule);
        return { db, content, snapshotters, containers, gc };
      },
      async (m) => {
        await m.gc.close();
        m.db.close();
      },
    ),
    reg(PluginType.gc, 'scheduler', [PluginType.metadata], (ic) => ic.get(MetadataKey).gc),
    reg(PluginType.lease, 'manager', [PluginType.metadata, PluginType.gc], (ic) => {
      return new SqliteLeaseManager(ic.get(MetadataKey).db, ic.get(GcKey));
    }),
    reg(PluginType.service, 'namespaces-service', [PluginType.metadata], (ic) => {
      return new SqliteNamespaceStore(ic.get(MetadataKey).db, ic.get(MetadataKey).gc);
    }),
    reg(
      PluginType.service,
      'content-service',
      [PluginType.metadata],
      (ic) => ic.get(MetadataKey).content,
    ),
    reg(PluginType.service, 'images-service', [PluginType.metadata], (ic) => {
      return new SqliteImageStore(ic.get(MetadataKey).db);
    }),
    reg(
      PluginType.service,
      'containers-service',
      [PluginType.metadata],
      (ic) => ic.get(MetadataKey).containers,
    ),
    reg(
      PluginType.service,
      'snapshots-service',
      [PluginType.metadata],
      (ic) => ic.get(MetadataKey).snapshotters,
    ),
    onHost(
      reg<Differ>(PluginType.differ, 'walking', [PluginType.metadata], (ic) => {
        // Temporary mounts for applying into overlay snapshots live under the
        // volatile state: a reboot clears whatever a crash left mounted.
        const tempDir = join(ic.stateDir(), 'tmpmounts');
        mkdirSync(tempDir, { recursive: true, mode: 0o700 });
        const content = ic.get(MetadataKey).content;
        return {
          applier: new WalkingApplier(content, { tempDir }),
          comparer: new WalkingComparer(content, { tempDir }),
        };
      }),
    ),

    // Shims forward their events here (TTRPC_ADDRESS); it listens before
    // the runtime reconnects to shims that outlived the last daemon.
    reg(
      PluginType.internal,
      'ttrpc',
      [PluginType.event],
      async (ic) => {
        const server = new TtrpcServer({ log: ic.log });
        registerTtrpcEvents(server, ic.get(ExchangeKey), ic.log);
        await server.listen(daemon.ttrpcAddress, 0o600);
        ic.exports.address = daemon.ttrpcAddress;
        return server;
      },
      (server) => server.close(),
    ),
    onHost(
      reg<ShimManager>(
        PluginType.runtimeV2,
        'task',
        [PluginType.internal, PluginType.event],
        async (ic) => {
          const exchange = ic.get(ExchangeKey);
          const manager = new ShimManager({
            roots: { state: ic.stateDir(), root: ic.rootDir() },
            binary: {
              address: daemon.address,
              ttrpcAddress: daemon.ttrpcAddress,
              publishBinary: BERTHD_BIN,
              paths: shimPaths(ic.config),
              debug: ic.config.shim_debug === true,
              timeoutMs: 30_000,
            },
            runcRoot: join(ic.state, 'runc'),
            events: runtimeEvents(exchange, ic.log),
            log: ic.log,
          });
          await manager.load();
          return manager;
        },
        (m) => m.close(),
      ),
    ),
    grpc('tasks', [PluginType.runtimeV2, PluginType.metadata, PluginType.differ], (ic) => {
      const scratch = ic.stateDir();
      for (const name of readdirSync(scratch)) removeTree(join(scratch, name), scratch);
      const differ = ic.get(DifferKey);
      return tasksService({
        containers: ic.get(MetadataKey).containers,
        tasks: ic.get(TaskManagerKey),
        checkpointer: new TaskCheckpointer({
          scratch,
          comparer: differ.comparer,
          applier: differ.applier,
          content: ic.get(MetadataKey).content,
        }),
      });
    }),
    grpc('containers', [PluginType.service, PluginType.event], (ic) =>
      containersService(ic.get(ContainersServiceKey), ic.get(ExchangeKey)),
    ),
    grpc('content', [PluginType.service, PluginType.event], (ic) =>
      contentService(ic.get(ContentServiceKey), ic.get(ExchangeKey)),
    ),
    grpc('diff', [PluginType.differ], (ic) => {
      const d = ic.get(DifferKey);
      return diffService(d.applier, d.comparer);
    }),
    grpc('events', [PluginType.event], (ic) => eventsService(ic.get(ExchangeKey))),
    grpc('images', [PluginType.service, PluginType.event, PluginType.gc], (ic) =>
      imagesService(ic.get(ImagesServiceKey), ic.get(ExchangeKey), ic.get(GcKey)),
    ),
    grpc('leases', [PluginType.lease], (ic) => leasesService(ic.get(LeasesKey))),
    grpc('snapshots', [PluginType.service, PluginType.event], (ic) =>
      snapshotsService(ic.get(SnapshotsServiceKey), ic.get(ExchangeKey)),
    ),
    grpc('namespaces', [PluginType.service, PluginType.event], (ic) =>
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

/**
 * `[plugins."io.containerd.runtime.v2.task"] shim_paths = { "io.containerd.runc.v2" = "/abs/path" }`:
 * shim binaries by runtime name, instead of the PATH lookup.
 */
function shimPaths(config: Readonly<Record<string, unknown>>): Record<string, string> {
  const raw = config.shim_paths;
  if (raw === undefined) return {};
  if (typeof raw !== 'object' || raw === null) throw new Error('shim_paths must be a table');
  const out: Record<string, string> = {};
  for (const [name, path] of Object.entries(raw)) {
    if (typeof path !== 'string' || !path.startsWith('/')) {
      throw new Error(`shim_paths.${name} must be an absolute path`);
    }
    out[name] = path;
  }
  return out;
}

/** The exits the runtime reports itself (shims that died), as `/tasks/exit` and `/tasks/delete`. */
function runtimeEvents(exchange: EventExchange, log: Logger): RuntimeEvents {
  const publish = (namespace: string, topic: string, event: AnyPayload) => {
    const ctx: OpContext = { namespace, signal: new AbortController().signal, log };
    exchange.publish(ctx, topic, event).catch((err) => log.warn({ err, topic }, 'publish'));
  };
  return {
    taskExit(ns, e) {
      publish(
        ns,
        '/tasks/exit',
        taskExit({
          containerId: e.containerId,
          id: e.id,
          pid: e.pid,
          exitStatus: e.status,
          exitedAt: toTimestamp(e.exitedAt),
        }),
      );
    },
    taskDelete(ns, e) {
      publish(
        ns,
        '/tasks/delete',
        taskDelete({
          containerId: e.containerId,
          pid: e.pid,
          exitStatus: e.status,
          exitedAt: toTimestamp(e.exitedAt),
        }),
      );
    },
  };
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

/** The host's platform in Go's spelling (amd64, arm64), as containerd reports it. */
function hostPlatform(): Platform {
  const arch: Record<string, string> = { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm' };
  return { os: process.platform, architecture: arch[process.arch] ?? process.arch };
}

function pidNamespaceInode(): bigint {
  try {
    return BigInt(statSync('/proc/self/ns/pid').ino);
  } catch {
    return 0n;
  }
}
