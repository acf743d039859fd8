import { join, resolve } from 'node:path';
import type { Client } from '../../client/index.js';
import { isNotFound } from '../../client/index.js';
import type { Container } from '../../core/containers/index.js';
import { removeTree } from '../../sys/remove-tree.js';
import type { CliContext } from '../context.js';
import { Labels } from '../labels.js';
import type { TaskInfo } from './tasks.js';

/** berth's per-container state directory: `<dataRoot>/containers/<namespace>/<id>`. */
export function containerStateDir(dataRoot: string, namespace: string, id: string): string {
  return join(dataRoot, 'containers', namespace, id);
}

/**
 * Removes a stopped container as `rm` does: its task (deleted, with what
 * the CNI cache still holds released: the postStop hook may not have run
 * after a crash), its record and snapshot, and its state dir. Answers the
 * bytes its snapshot held (0 when unknown). A running task is refused.
 */
export async function removeStopped(
  ctx: CliContext,
  client: Client,
  c: Container,
  task: TaskInfo | undefined,
): Promise<number> {
  const container = await client.loadContainer(c.id);
  if (task !== undefined) {
    if (task.status === 'running' || task.status === 'paused' || task.status === 'pausing') {
      throw new Error(`container ${c.id} is ${task.status}: stop it first`);
    }
    try {
      await (await container.task()).delete();
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
  const g = ctx.globals;
  const { releaseNetwork } = await import('../network/index.js');
  await releaseNetwork(
    { dataRoot: g.dataRoot, cniPath: g.cniPath, cniConfDir: g.cniConfDir },
    g.namespace,
    c.id,
  ).catch((err: unknown) =>
    ctx.warn(`container ${c.id}: releasing its network: ${(err as Error).message}`),
  );
  let size = 0;
  if (c.snapshotter !== '' && c.snapshotKey !== '') {
    size = await client
      .snapshotService(c.snapshotter)
      .usage(client.context(), c.snapshotKey)
      .then((u) => Number(u.size))
      .catch(() => 0);
  }
  try {
    await container.delete({ snapshotCleanup: true });
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  const dataRoot = resolve(g.dataRoot);
  const dir = c.labels[Labels.stateDir] || containerStateDir(dataRoot, g.namespace, c.id);
  try {
    removeTree(resolve(dir), join(dataRoot, 'containers'));
  } catch (err) {
    // The container is gone; what is left on the host is only said.
    ctx.warn(`container ${c.id}: removing ${dir}: ${(err as Error).message}`);
  }
  return size;
}
