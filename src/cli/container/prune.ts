import type { CliContext } from '../context.js';
import { CliError } from '../errors.js';
import { parseFilters } from '../format/index.js';
import { removeStopped } from './remove.js';
import { listTasks } from './tasks.js';
import { matchesFilters, stateOf } from './view.js';

/**
 * Removes the namespace's stopped containers (no task, or a task not
 * running nor paused) matching the `label=` filters; answers their ids and
 * the bytes their snapshots held. A container that cannot be removed is
 * warned about; the others still go.
 */
export async function pruneContainers(
  ctx: CliContext,
  filterArgs: readonly string[] = [],
): Promise<{ deleted: string[]; reclaimed: number }> {
  let filters: Map<string, string[]>;
  try {
    filters = parseFilters(filterArgs);
  } catch (err) {
    throw new CliError((err as Error).message);
  }
  for (const key of filters.keys()) {
    if (key !== 'label')
      throw new CliError(`invalid filter '${key}': prune takes label filters only`);
  }
  const client = await ctx.client();
  const [records, tasks] = await Promise.all([
    client.containerService().list(client.context()),
    listTasks(client),
  ]);
  const deleted: string[] = [];
  let reclaimed = 0;
  for (const c of records) {
    const task = tasks.get(c.id);
    const state = stateOf(task);
    if (state === 'running' || state === 'paused') continue;
    if (!matchesFilters(c, task, filters)) continue;
    try {
      reclaimed += await removeStopped(ctx, client, c);
      deleted.push(c.id);
    } catch (err) {
      ctx.warn(`container ${c.id}: not removed: ${(err as Error).message}`);
    }
  }
  return { deleted, reclaimed };
}
