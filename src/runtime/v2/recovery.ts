import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { isNotFound } from '../../core/errdefs/index.js';
import type { Logger } from '../../core/log/index.js';
import { removeTree } from '../../sys/remove-tree.js';
import { Bundle, type BundleRoots, RUNTIME_FILE, removeHidden } from './bundle.js';
import { type DeadShims, readRecordedExit } from './dead-shim.js';
import { ShimClient } from './shim-client.js';
import type { ShimConnection, ShimConnections } from './shim-connections.js';
import { openShimLog, type ShimLog } from './shim-log.js';
import { ShimTask, StoppedTask } from './shim-task.js';
import { type TaskList, taskKey } from './task-list.js';

export interface RecoveryOptions {
  roots: BundleRoots;
  tasks: TaskList;
  connections: ShimConnections;
  deadShims: DeadShims;
  log: Logger;
  /** How long a shim may take to answer Connect. */
  timeoutMs: number;
}

/**
 * Finds the tasks of a previous run of the daemon again (shims outlive it):
 * walks every bundle under the state root, reconnects to live shims (their
 * log FIFO reopened, then Connect), cleans up after dead ones (their tasks
 * stay, stopped), and removes what interrupted creates and deletes left:
 * hidden bundles, bundles never completed or whose shim never got its task,
 * work dirs without a bundle.
 */
export async function recoverTasks(opts: RecoveryOptions): Promise<void> {
  const { state, root } = opts.roots;
  for (const ns of safeReaddir(state)) {
    if (ns.startsWith('.')) continue;
    const nsDir = join(state, ns);
    const ids = safeReaddir(nsDir);
    removeHidden(nsDir, state, ids);
    for (const id of ids) {
      if (id.startsWith('.')) continue;
      await recoverTask(opts, new Bundle(opts.roots, ns, id));
    }
    const workDir = join(root, ns);
    for (const id of safeReaddir(workDir)) {
      if (!opts.tasks.has(ns, id)) removeTree(join(workDir, id), root);
    }
  }
}

async function recoverTask(opts: RecoveryOptions, bundle: Bundle): Promise<void> {
  const { tasks } = opts;
  const { namespace, id } = bundle;
  const log = opts.log.child({ namespace, id });
  const runtime = bundle.readFile(RUNTIME_FILE) ?? '';
  if (!existsSync(bundle.file('config.json')) || runtime === '') {
    log.warn('removing a bundle that was never completed');
    bundle.delete();
    return;
  }
  const exit = readRecordedExit(bundle);
  if (exit !== undefined) {
    tasks.set(namespace, id, { task: new StoppedTask(bundle, runtime, exit) });
    return;
  }
  if (!existsSync(bundle.file('address'))) {
    // The daemon stopped before the shim answered `start`: no task was ever created.
    log.warn('removing a bundle whose shim never started');
    bundle.delete();
    return;
  }
  let shimLog: ShimLog | undefined;
  let connection: ShimConnection | undefined;
  try {
    const address = bundle.readAddress();
    shimLog = openShimLog(bundle.file('log'), log);
    connection = await opts.connections.get(address);
    const task = new ShimTask(new ShimClient(connection.conn, namespace), bundle, runtime);
    // Not in the list until the shim has answered: a connection that drops before that is
    // handled here, once, not also as a lost connection.
    await task.shim.connect({ id }, opts.timeoutMs);
    if (!(await shimHasTask(task))) {
      // The daemon stopped between `shim start` and Task.Create: nothing ran.
      log.warn('removing a shim that never got its task');
      await opts.connections.detach(connection, task);
      shimLog.close();
      bundle.delete();
      return;
    }
    connection.tasks.add(taskKey(namespace, id));
    tasks.set(namespace, id, { task, log: shimLog, connection });
    log.info('reconnected to shim');
  } catch (err) {
    log.warn({ err }, 'shim is gone');
    if (connection) opts.connections.release(connection);
    shimLog?.close();
    await opts.deadShims.stopped({ bundle, runtime });
  }
}

async function shimHasTask(task: ShimTask): Promise<boolean> {
  try {
    await task.shim.state({ id: task.id });
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
