import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { failedPrecondition, notFound } from '../core/errdefs/index.js';
import type { Logger } from '../core/log/index.js';

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

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
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
  /** Values shown in introspection (e.g. a store's path). */
  readonly exports: Record<string, string>;
  /** The instance of an initialised plugin; `failed_precondition` if it failed. */
  get<T>(key: PluginKey<T>): T;
  /** Every successfully initialised plugin of a type, in init order. */
  getByType<T = unknown>(type: string): T[];
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

export interface LoadOptions {
  root: string;
  state: string;
  log: Logger;
  /** Per-plugin config, keyed by `<type>.<id>`. */
  config?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  /** `<type>.<id>` URIs to leave out. */
  disabled?: readonly string[];
}

/**
 * Initialises plugins in dependency order. A plugin whose init throws is
 * recorded with its error (introspection reports it) and its dependants are
 * still tried: they fail themselves if they needed it.
 */
export class PluginSet {
  private readonly records: PluginRecord[] = [];

  private constructor(private readonly opts: LoadOptions) {}

  static async load(
    registrations: readonly Registration<unknown>[],
    opts: LoadOptions,
  ): Promise<PluginSet> {
    const set = new PluginSet(opts);
    const disabled = new Set(opts.disabled ?? []);
    for (const reg of orderByRequires(registrations)) {
      const uri = `${reg.type}.${reg.id}`;
      if (disabled.has(uri)) {
        set.records.push({
          registration: reg,
          exports: {},
          status: 'skip',
          // ctr shows a plugin as "skip" when its error mentions "skip plugin".
          error: new Error('skip plugin: disabled by configuration'),
        });
        continue;
      }
      const exports: Record<string, string> = {};
      const log = opts.log.child({ plugin: uri });
      try {
        const instance = await reg.init(set.initContext(reg, exports, log));
        set.records.push({ registration: reg, exports, instance, status: 'ok' });
        log.debug('plugin loaded');
      } catch (err) {
        const error = err instanceof Error ? err : new Error(String(err));
        set.records.push({ registration: reg, exports, error, status: 'error' });
        log.warn({ err: error }, 'plugin failed to load');
      }
    }
    return set;
  }

  get all(): readonly PluginRecord[] {
    return this.records;
  }

  get<T>(key: PluginKey<T>): T {
    const rec = this.records.find(
      (r) => r.registration.type === key.type && r.registration.id === key.id,
    );
    if (!rec) throw notFound(`plugin ${JSON.stringify(`${key.type}.${key.id}`)}`);
    if (rec.status !== 'ok') {
      throw failedPrecondition(
        `plugin ${JSON.stringify(`${key.type}.${key.id}`)} is not loaded: ${rec.error?.message ?? rec.status}`,
      );
    }
    return rec.instance as T;
  }

  getByType<T>(type: string): T[] {
    return this.records
      .filter((r) => r.registration.type === type && r.status === 'ok')
      .map((r) => r.instance as T);
  }

  /** Closes loaded plugins in reverse init order; errors are logged, not thrown. */
  async close(): Promise<void> {
    for (const rec of [...this.records].reverse()) {
      if (rec.status !== 'ok' || !rec.registration.close) continue;
      try {
        await rec.registration.close(rec.instance);
      } catch (err) {
        this.opts.log.error(
          { err, plugin: `${rec.registration.type}.${rec.registration.id}` },
          'plugin close failed',
        );
      }
    }
  }

  private initContext(
    reg: Registration<unknown>,
    exports: Record<string, string>,
    log: Logger,
  ): InitContext {
    const name = `${reg.type}.${reg.id}`;
    const { root, state } = this.opts;
    return {
      root,
      state,
      rootDir: () => {
        const dir = join(root, name);
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        return dir;
      },
      stateDir: () => {
        const dir = join(state, name);
        mkdirSync(dir, { recursive: true, mode: 0o711 });
        return dir;
      },
      config: this.opts.config?.[name] ?? {},
      log,
      exports,
      get: (key) => this.get(key),
      getByType: (type) => this.getByType(type),
      plugins: () => this.records,
    };
  }
}

/**
 * Orders registrations so each comes after every plugin of the types it
 * requires, keeping the given order otherwise. A cycle is a programming
 * error.
 */
export function orderByRequires<T extends Registration<unknown>>(regs: readonly T[]): T[] {
  const out: T[] = [];
  const placed = new Set<T>();
  const visiting = new Set<T>();
  const visit = (r: T): void => {
    if (placed.has(r)) return;
    if (visiting.has(r)) throw new Error(`plugin dependency cycle at ${r.type}.${r.id}`);
    visiting.add(r);
    for (const t of r.requires ?? []) {
      for (const dep of regs) if (dep.type === t && dep !== r) visit(dep);
    }
    visiting.delete(r);
    placed.add(r);
    out.push(r);
  };
  for (const r of regs) visit(r);
  return out;
}
