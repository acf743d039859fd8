import type { Logger } from '../core/log/index.js';
import type { Platform } from './platform.js';

/** Plugin types, containerd's strings, so `ctr plugins ls` looks familiar. */
export const PluginType = {
  content: 'io.containerd.content.v1',
  differ: 'io.containerd.differ.v1',
  event: 'io.containerd.event.v1',
  gc: 'io.containerd.gc.v1',
  lease: 'io.containerd.lease.v1',
  metadata: 'io.containerd.metadata.v1',
  service: 'io.containerd.service.v1',
  snapshotter: 'io.containerd.snapshotter.v1',
  grpc: 'io.containerd.grpc.v1',
  internal: 'io.containerd.internal.v1',
  runtimeV2: 'io.containerd.runtime.v2',
  /** containerd 2.x's type of the restart monitor (1.x: `io.containerd.internal.v1`). */
  containerMonitor: 'io.containerd.monitor.container.v1',
  streaming: 'io.containerd.streaming.v1',
  transfer: 'io.containerd.transfer.v1',
} as const;

/** A typed handle on a plugin's instance: `ic.get(NamespacesServiceKey)`. */
export interface PluginKey<T> {
  readonly type: string;
  readonly id: string;
  /** Phantom, for type inference only. */
  readonly __instance?: T;
}

export function pluginKey<T>(type: string, id: string): PluginKey<T> {
  return { type, id };
}

/** What the daemon tells its plugins about itself. */
export interface DaemonInfo {
  /** The gRPC socket; shims are started with it as `-address`. */
  readonly address: string;
  /** The ttrpc socket shims forward events to (their TTRPC_ADDRESS). */
  readonly ttrpcAddress: string;
  /** The program shims run to publish events (`-publish-binary`): berthd's launcher. */
  readonly publishBinary: string;
  readonly version: { readonly version: string; readonly revision: string };
  /** True once the daemon has begun to stop. */
  shuttingDown(): boolean;
}

/** What a plugin's init receives: its directories, config, logger and peers. */
export interface InitContext {
  /** `<root>/<type>.<id>`; created on first use. */
  rootDir(): string;
  /** `<state>/<type>.<id>`; created on first use. */
  stateDir(): string;
  readonly root: string;
  readonly state: string;
  readonly config: Readonly<Record<string, unknown>>;
  readonly log: Logger;
  readonly daemon: DaemonInfo;
  /** Values shown in introspection (e.g. a store's path). */
  readonly exports: Record<string, string>;
  /** The instance of an initialised plugin; `failed_precondition` if it failed. */
  get<T>(key: PluginKey<T>): T;
  /** Every successfully initialised plugin of a type by id, in init order. */
  getByType<T = unknown>(type: string): ReadonlyMap<string, T>;
  /** Every plugin known so far, for introspection. */
  plugins(): readonly PluginRecord[];
}

export interface Registration<T> {
  readonly type: string;
  readonly id: string;
  /** Plugin types that must be initialised first. */
  readonly requires?: readonly string[];
  readonly platforms?: readonly Platform[];
  readonly capabilities?: readonly string[];
  init(ic: InitContext): Promise<T> | T;
  /** Graceful stop, run in reverse init order. */
  close?(instance: T): Promise<void> | void;
}

export interface PluginRecord {
  readonly registration: Registration<unknown>;
  readonly exports: Readonly<Record<string, string>>;
  readonly instance?: unknown;
  /** Set when init failed or the plugin was skipped. */
  readonly error?: Error;
  readonly status: 'ok' | 'error' | 'skip';
}
