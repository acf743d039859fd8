import type { Client } from '../../client/index.js';
import type { Container } from '../../core/containers/index.js';
import type { CliContext } from '../context.js';
import { CliError } from '../errors.js';
import { Labels } from '../labels.js';
import { findContainer } from '../lookup.js';
import { listTasks, processStartTime } from './tasks.js';
import { inspectContainer, type NetworkView } from './view.js';

/** The json-file log path of a container (label `berth/log`, a LogConfig), or ''. */
export function logPathOf(c: Pick<Container, 'labels'>): string {
  const raw = c.labels[Labels.log];
  if (raw === undefined || raw === '') return '';
  try {
    const cfg = JSON.parse(raw) as { path?: unknown };
    return typeof cfg.path === 'string' ? cfg.path : '';
  } catch {
    return '';
  }
}

/** The network flags of the CLI's globals, as src/cli/network takes them. */
export function networkFlags(ctx: CliContext): {
  dataRoot: string;
  cniPath: string;
  cniConfDir: string;
} {
  const g = ctx.globals;
  return { dataRoot: g.dataRoot, cniPath: g.cniPath, cniConfDir: g.cniConfDir };
}

/**
 * `inspect` objects of the containers `refs` names (docker's shape), in
 * order, with the refs that name no container; `byRef` has an entry (the
 * object, or undefined) for each ref. One Tasks List call for all.
 */
export async function inspectContainers(
  ctx: CliContext,
  client: Client,
  refs: readonly string[],
): Promise<{
  found: Record<string, unknown>[];
  missing: string[];
  byRef: (Record<string, unknown> | undefined)[];
}> {
  const records: (Container | undefined)[] = await Promise.all(
    refs.map((r) => findContainer(client, r).catch(orMissing)),
  );
  const missing = refs.filter((_, i) => records[i] === undefined);
  if (records.every((r) => r === undefined)) {
    return { found: [], missing, byRef: refs.map(() => undefined) };
  }
  const tasks = await listTasks(client);
  const { containerNetworkInfo } = await import('../network/index.js');
  const byRef: (Record<string, unknown> | undefined)[] = [];
  for (const c of records) {
    if (c === undefined) {
      byRef.push(undefined);
      continue;
    }
    const task = tasks.get(c.id);
    const live = task !== undefined && (task.status === 'running' || task.status === 'paused');
    const startedAt = live ? processStartTime(task.pid) : undefined;
    let network: NetworkView | undefined;
    try {
      network = await containerNetworkInfo(networkFlags(ctx), ctx.globals.namespace, c.id);
    } catch {
      network = undefined; // no CNI state: a container without a berth network
    }
    byRef.push(
      inspectContainer(c, task, {
        ...(startedAt && { startedAt }),
        ...(network && { network }),
        logPath: logPathOf(c),
      }),
    );
  }
  const found = byRef.filter((o): o is Record<string, unknown> => o !== undefined);
  return { found, missing, byRef };
}

/** undefined for docker's "No such container"; any other failure (the daemon is down) is thrown. */
export function orMissing(err: unknown): undefined {
  if (err instanceof CliError && err.message.startsWith('No such container')) return undefined;
  throw err;
}
