import type { Logger } from '../../core/log/index.js';
import { TtrpcClient } from '../../ttrpc/index.js';
import type { ShimTask } from './shim-task.js';
import { taskKey } from './task-list.js';

/** One ttrpc connection to a shim; grouped containers share it. */
export interface ShimConnection {
  address: string;
  conn: TtrpcClient;
  /** Keys (`ns/id`, {@link taskKey}) of the live tasks served over it. */
  tasks: Set<string>;
}

export interface ShimConnectionsOptions {
  log: Logger;
  /** How long connecting, and a Shutdown, may take. */
  timeoutMs: number;
  /** A connection ended while the pool was open (the shim died or closed it). */
  onGone(c: ShimConnection): void;
}

/**
 * The daemon's connections to its shims, one per shim address: the runc
 * shim serves every container of a group (`io.containerd.runc.v2.group`)
 * on one socket, so their tasks share one connection, which closes with the
 * last of them.
 */
export class ShimConnections {
  private readonly byAddress = new Map<string, ShimConnection>();
  private closing = false;

  constructor(private readonly opts: ShimConnectionsOptions) {}

  /** The open connection to `address`, or a new one. */
  async get(address: string): Promise<ShimConnection> {
    const existing = this.byAddress.get(address);
    if (existing && !existing.conn.isClosed) return existing;
    const conn = await TtrpcClient.connect(address, {
      log: this.opts.log,
      connectTimeoutMs: this.opts.timeoutMs,
    });
    const c: ShimConnection = { address, conn, tasks: new Set() };
    this.byAddress.set(address, c);
    void conn.closed.then(() => {
      if (this.byAddress.get(address) === c) this.byAddress.delete(address);
      if (!this.closing) this.opts.onGone(c);
    });
    return c;
  }

  /**
   * The open connection to `address` if it serves tasks: a shim the daemon
   * knows is alive and that will not exit under a new task (it exits only
   * when asked to with no task left).
   */
  serving(address: string): ShimConnection | undefined {
    const c = this.byAddress.get(address);
    return c && !c.conn.isClosed && c.tasks.size > 0 ? c : undefined;
  }

  /**
   * Drops `task` from its connection: after its last task, asks the shim to
   * exit once it serves nothing else (Shutdown; the shim decides) and
   * closes the connection. While the daemon has other tasks on the shim it
   * sends no Shutdown: one racing a Task.Create the daemon sends it for a
   * new task of the group ({@link serving}) could end the shim under it.
   */
  async detach(c: ShimConnection, task: ShimTask): Promise<void> {
    c.tasks.delete(taskKey(task.namespace, task.id));
    if (c.tasks.size === 0 && !c.conn.isClosed) {
      await task.shim
        .shutdown({ id: task.id }, this.opts.timeoutMs)
        .catch((err) => this.opts.log.debug({ err, id: task.id }, 'shim shutdown'));
    }
    this.release(c);
  }

  /** Closes `c` if it serves no task (any more). */
  release(c: ShimConnection): void {
    if (c.tasks.size > 0) return;
    if (this.byAddress.get(c.address) === c) this.byAddress.delete(c.address);
    c.conn.close();
  }

  /** Closes every connection; the shims keep running, and no loss is reported. */
  close(): void {
    this.closing = true;
    for (const c of this.byAddress.values()) c.conn.close();
    this.byAddress.clear();
  }
}
