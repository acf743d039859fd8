import type { Logger } from '../../core/log/index.js';
import type { Exit } from '../../core/tasks/index.js';
import { nowNanos } from '../../core/time/index.js';
import { claimSocketPath } from '../../sys/socket.js';
import { socketPath } from '../../ttrpc/index.js';
import { deleteShim, resolveShimBinary, type ShimBinaryConfig } from './binary.js';
import { BINARY_FILE, type Bundle, EXIT_FILE } from './bundle.js';
import { shimRuntime } from './runtime-v1.js';
import type { ShimConnection } from './shim-connections.js';
import { ShimTask, StoppedTask } from './shim-task.js';
import type { TaskEntry, TaskList } from './task-list.js';

/** What the manager publishes itself: the exits of shims that died. Shims publish the rest. */
export interface RuntimeEvents {
  taskExit(namespace: string, e: { containerId: string; id: string } & Exit): void;
  taskDelete(namespace: string, e: { containerId: string } & Exit): void;
}

export interface DeadShimsOptions {
  tasks: TaskList;
  binary: ShimBinaryConfig;
  events: RuntimeEvents;
  log: Logger;
}

/**
 * What happens to the task of a shim that is gone, found dead at load or
 * lost while the daemon runs: `shim delete` cleans up after it (the runc
 * shim runs `runc delete --force`) and answers the exit it knows; the exit
 * is recorded in the bundle's `exit` file and published as `/tasks/exit`;
 * the task stays, stopped, until Tasks.Delete removes it.
 */
export class DeadShims {
  constructor(private readonly opts: DeadShimsOptions) {}

  /** A shim connection ended: every task it served that the daemon did not delete has lost its shim. */
  async connectionLost(c: ShimConnection): Promise<void> {
    for (const k of [...c.tasks]) {
      const e = this.opts.tasks.byKey(k);
      if (!e || e.deleting || !(e.task instanceof ShimTask)) continue;
      this.opts.log.warn({ id: e.task.id, namespace: e.task.namespace }, 'shim disconnected');
      await this.stopped(e.task, e);
    }
  }

  /**
   * Cleans up after the shim of `task` and keeps the task as stopped. `e`
   * is its entry in the list while it was live; a Tasks.Delete that ran
   * meanwhile (the entry is gone or being deleted) wins.
   */
  async stopped(
    task: ShimTask | { bundle: Bundle; runtime: string },
    e?: TaskEntry,
  ): Promise<void> {
    const { bundle } = task;
    const log = this.opts.log.child({ namespace: bundle.namespace, id: bundle.id });
    const exit = await this.shimDelete(bundle, task.runtime, log);
    e?.log?.close();
    if (e && (e.deleting || this.opts.tasks.get(bundle.namespace, bundle.id) !== e)) return;
    await this.removeSocket(bundle, log);
    try {
      writeRecordedExit(bundle, exit);
    } catch (err) {
      log.warn({ err }, 'recording the exit of a dead shim');
    }
    this.opts.tasks.set(bundle.namespace, bundle.id, {
      task: new StoppedTask(bundle, task.runtime, exit),
    });
    this.opts.events.taskExit(bundle.namespace, { containerId: bundle.id, id: bundle.id, ...exit });
  }

  /**
   * Cleans up after a shim that died before its task was added (during
   * Task.Create): `shim delete`, then its socket. The bundle is the
   * caller's to remove.
   */
  async cleanUp(bundle: Bundle, runtime: string): Promise<void> {
    const log = this.opts.log.child({ namespace: bundle.namespace, id: bundle.id });
    await this.shimDelete(bundle, runtime, log);
    await this.removeSocket(bundle, log);
  }

  private async removeSocket(bundle: Bundle, log: Logger): Promise<void> {
    await removeStaleSocket(bundle).catch((err) =>
      log.debug({ err }, 'removing the dead shim socket'),
    );
  }

  /** `shim delete` with the binary that ran the shim; 255 when even that fails. */
  private async shimDelete(bundle: Bundle, runtime: string, log: Logger): Promise<Exit> {
    try {
      const binary =
        bundle.readFile(BINARY_FILE) ?? resolveShimBinary(shimRuntime(runtime), this.opts.binary);
      return await deleteShim(this.opts.binary, {
        binary,
        namespace: bundle.namespace,
        id: bundle.id,
        bundle: bundle.path,
      });
    } catch (err) {
      log.warn({ err }, 'cleaning up after a dead shim failed');
      return { pid: 0, status: 255, exitedAt: nowNanos() };
    }
  }
}

/** The exit recorded for a task whose shim died, if any. */
export function readRecordedExit(bundle: Bundle): Exit | undefined {
  const recorded = bundle.readFile(EXIT_FILE);
  if (recorded === undefined) return undefined;
  const r = JSON.parse(recorded) as { pid: number; status: number; exitedAt: string };
  return { pid: r.pid, status: r.status, exitedAt: BigInt(r.exitedAt) };
}

function writeRecordedExit(bundle: Bundle, exit: Exit): void {
  bundle.writeFile(
    EXIT_FILE,
    JSON.stringify({ pid: exit.pid, status: exit.status, exitedAt: String(exit.exitedAt) }),
  );
}

/** A killed shim leaves its socket file behind; nobody answers on it any more. */
async function removeStaleSocket(bundle: Bundle): Promise<void> {
  await claimSocketPath(socketPath(bundle.readAddress()));
}
