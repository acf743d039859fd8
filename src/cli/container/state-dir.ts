import { join } from 'node:path';
import { removeTree } from '../../sys/remove-tree.js';
import type { GlobalOptions } from '../globals.js';

/** Where berth keeps every container's state dir of a namespace: `<dataRoot>/containers/<ns>`. */
export function containersRoot(g: Pick<GlobalOptions, 'dataRoot'>): string {
  return join(g.dataRoot, 'containers');
}

/** A container's state dir: `<dataRoot>/containers/<namespace>/<id>` (hosts, resolv.conf, hostname, logs). */
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
