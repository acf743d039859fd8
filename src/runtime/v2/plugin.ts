import { dirname, join } from 'node:path';
import type { AnyPayload, Publisher } from '../../core/events/index.js';
import type { Logger } from '../../core/log/index.js';
import type { OpContext } from '../../core/namespaces/index.js';
import { ExchangeKey, hostPlatform, PluginType, type Registration } from '../../plugin/index.js';
import { BERTH_RUNTIME } from '../../shim/group.js';
import { taskDelete, taskExit } from '../../wire/event-payloads.js';
import { toTimestamp } from '../../wire/timestamp.js';
import { resolveShimBinary, type ShimBinaryConfig } from './binary.js';
import { type RuntimeEvents, ShimManager } from './manager.js';
import { SparePool } from './spare-shim.js';

/**
 * `io.containerd.runtime.v2` `task`: tasks run by shims. On init it
 * reconnects to the shims that outlived the last daemon, so it comes after
 * the ttrpc socket they publish to.
 *
 * Config (`[plugins."io.containerd.runtime.v2.task"]`): `shim_paths`,
 * `shim_debug`, `spare_shim` ({@link spareShim}) and `default_runtime`, berth's own key: the runtime of
 * tasks whose container names none (default `io.containerd.berth.v1`,
 * berth's grouped shim). It is exported (introspection shows it), and
 * berth's client and CLI read it there for new containers that name no
 * runtime. Containers that name one (ctr always does) keep it.
 */
export const taskPlugin: Registration<ShimManager> = {
  type: PluginType.runtimeV2,
  id: 'task',
  requires: [PluginType.internal, PluginType.event],
  platforms: [hostPlatform()],
  async init(ic) {
    const defaultRuntime = configuredDefaultRuntime(ic.config);
    ic.exports[DEFAULT_RUNTIME_EXPORT] = defaultRuntime;
    const binary: ShimBinaryConfig = {
      address: ic.daemon.address,
      ttrpcAddress: ic.daemon.ttrpcAddress,
      publishBinary: ic.daemon.publishBinary,
      paths: shimPaths(ic.config),
      // berth's shim lives beside berthd (bin/), which need not be on PATH.
      searchDirs: [dirname(ic.daemon.publishBinary)],
      debug: ic.config.shim_debug === true,
      timeoutMs: 30_000,
    };
    const spares = spareShim(ic.config)
      ? new SparePool(binary, () => berthShimBinary(binary, ic.log), ic.log)
      : undefined;
    const manager = new ShimManager({
      roots: { state: ic.stateDir(), root: ic.rootDir() },
      binary,
      runcRoot: join(ic.state, 'runc'),
      defaultRuntime,
      events: runtimeEvents(ic.get(ExchangeKey), ic.log),
      log: ic.log,
      spares,
    });
    await manager.load();
    // Otherwise the first container on berth's shim starts the first spare (SparePool.take).
    if (defaultRuntime === BERTH_RUNTIME) spares?.fill();
    return manager;
  },
  close: (m) => m.close(),
};

/** The export under which the task plugin shows its `default_runtime` (read by berth's client). */
export const DEFAULT_RUNTIME_EXPORT = 'default_runtime';

/** `default_runtime` when the config has none: berth's grouped shim. */
export const DEFAULT_RUNTIME = BERTH_RUNTIME;

/** `default_runtime` of the plugin's config, {@link DEFAULT_RUNTIME} when unset. */
export function configuredDefaultRuntime(config: Readonly<Record<string, unknown>>): string {
  const raw = config.default_runtime ?? DEFAULT_RUNTIME;
  if (typeof raw !== 'string' || raw === '') {
    throw new Error(
      'default_runtime must be a runtime name (io.containerd.berth.v1, io.containerd.runc.v2, …)',
    );
  }
  return raw;
}

/**
 * `spare_shim` (berth's own, default true): keep one spare daemon of berth's
 * shim started ahead of need, so that a container whose group has no shim
 * yet does not wait for a node start (src/shim/spare.ts). It costs that
 * idle process (about 20 MiB PSS, 50 MiB RSS) while berthd runs.
 */
export function spareShim(config: Readonly<Record<string, unknown>>): boolean {
  const raw = config.spare_shim ?? true;
  if (typeof raw !== 'boolean') throw new Error('spare_shim must be true or false');
  return raw;
}

/** berth's shim binary, or undefined (logged) when it is not installed. */
function berthShimBinary(cfg: ShimBinaryConfig, log: Logger): string | undefined {
  try {
    return resolveShimBinary(BERTH_RUNTIME, cfg);
  } catch (err) {
    log.debug({ err }, 'no spare shim: berth shim not found');
    return undefined;
  }
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
function runtimeEvents(publisher: Publisher, log: Logger): RuntimeEvents {
  const publish = (namespace: string, topic: string, event: AnyPayload) => {
    const ctx: OpContext = { namespace, signal: new AbortController().signal, log };
    publisher.publish(ctx, topic, event).catch((err) => log.warn({ err, topic }, 'publish'));
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
