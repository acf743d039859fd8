import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { removeTree } from '../../sys/remove-tree.js';
import type { GlobalOptions } from '../globals.js';

/** Where berth keeps every container's state dir of a namespace: `<dataRoot>/containers/<ns>`. */
export function containersRoot(g: Pick<GlobalOptions, 'dataRoot'>): string {
  return join(g.dataRoot, 'containers');
}

/** A container's state dir: `<dataRoot>/containers/<namespace>/<id>` (hosts, resolv.conf, hostname, logs, `fifo/`). */
export function containerStateDir(
  g: Pick<GlobalOptions, 'dataRoot' | 'namespace'>,
  id: string,
): string {
  return join(containersRoot(g), g.namespace, id);
}

/**
 * Removes a container's state dir; only below `<dataRoot>/containers`, so a
 * label naming another directory cannot make berth delete it.
 */
export function removeStateDir(g: Pick<GlobalOptions, 'dataRoot'>, dir: string): void {
  removeTree(dir, containersRoot(g));
}

/**
 * Where berth makes the FIFOs of a container's attached processes: under
 * its state dir, so that a berth killed while attached leaves them where
 * `rm` removes them (the client's default, a temp dir, has nobody to
 * remove them then). Undefined without a state dir (a container berth did
 * not make): the client's default.
 */
export function fifoDirOf(stateDir: string | undefined): string | undefined {
  return stateDir ? join(stateDir, 'fifo') : undefined;
}

/** A state dir younger than this may belong to a container still being created: never swept. */
export const SWEEP_MIN_AGE_MS = 60 * 1000;

/**
 * Removes the state dirs of a namespace whose containers are gone without
 * berth (berthd's auto-remove of `run -d --rm`, a `ctr c rm`): those not
 * in `live` and older than {@link SWEEP_MIN_AGE_MS}. Answers the IDs
 * swept; failures are left for the next sweep.
 */
export function sweepStateDirs(
  g: Pick<GlobalOptions, 'dataRoot' | 'namespace'>,
  live: ReadonlySet<string>,
  now: number = Date.now(),
): string[] {
  const dir = join(containersRoot(g), g.namespace);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const swept: string[] = [];
  for (const id of names) {
    if (live.has(id) || !/^[0-9a-f]{64}$/.test(id)) continue;
    const path = join(dir, id);
    try {
      if (now - statSync(path).mtimeMs < SWEEP_MIN_AGE_MS) continue;
      removeTree(path, containersRoot(g));
      swept.push(id);
    } catch {
      // Gone meanwhile, or not ours to remove: the next sweep sees it again.
    }
  }
  return swept;
}
