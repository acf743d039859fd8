import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { failedPrecondition, notFound } from '../core/errdefs/index.js';
import type { Logger } from '../core/log/index.js';
import type {
  DaemonInfo,
  InitContext,
  PluginKey,
  PluginRecord,
  Registration,
} from '../plugin/index.js';

export interface LoadOptions {
  root: string;
  state: string;
  log: Logger;
  /** Per-plugin config, keyed by `<type>.<id>`. */
  config?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  /** `<type>.<id>` URIs to leave out. */
  disabled?: readonly string[];
  daemon: DaemonInfo;
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

  /** Loaded instances of a type by id, in init order. */
  getByType<T>(type: string): ReadonlyMap<string, T> {
    const out = new Map<string, T>();
    for (const r of this.records) {
      if (r.registration.type === type && r.status === 'ok') {
        out.set(r.registration.id, r.instance as T);
      }
    }
    return out;
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
      daemon: this.opts.daemon,
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
