import { join } from 'node:path';
import type { AnyPayload, Publisher } from '../../core/events/index.js';
import type { Logger } from '../../core/log/index.js';
import type { OpContext } from '../../core/namespaces/index.js';
import { ExchangeKey, hostPlatform, PluginType, type Registration } from '../../plugin/index.js';
import { taskDelete, taskExit } from '../../wire/event-payloads.js';
import { toTimestamp } from '../../wire/timestamp.js';
import { type RuntimeEvents, ShimManager } from './manager.js';

/**
 * `io.containerd.runtime.v2` `task`: tasks run by shims. On init it
 * reconnects to the shims that outlived the last daemon, so it comes after
 * the ttrpc socket they publish to.
 */
export const taskPlugin: Registration<ShimManager> = {
  type: PluginType.runtimeV2,
  id: 'task',
  requires: [PluginType.internal, PluginType.event],
  platforms: [hostPlatform()],
  async init(ic) {
    const manager = new ShimManager({
      roots: { state: ic.stateDir(), root: ic.rootDir() },
      binary: {
        address: ic.daemon.address,
        ttrpcAddress: ic.daemon.ttrpcAddress,
        publishBinary: ic.daemon.publishBinary,
        paths: shimPaths(ic.config),
        debug: ic.config.shim_debug === true,
        timeoutMs: 30_000,
      },
      runcRoot: join(ic.state, 'runc'),
      events: runtimeEvents(ic.get(ExchangeKey), ic.log),
      log: ic.log,
    });
    await manager.load();
    return manager;
  },
  close: (m) => m.close(),
};

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
