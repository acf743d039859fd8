import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parentOf, runcRoot, type TestDaemon } from './daemon.js';
import { BERTH_RUNTIME, e2eRuntime, isShimOf } from './runtime.js';

/**
 * The runtime the grouped-shim acceptance tests (test/e2e/berth-shim-*) run
 * their containers on: `BERTH_E2E_RUNTIME` when set, else berth's shim.
 * They pass on the stock shim too (`BERTH_E2E_RUNTIME=io.containerd.runc.v2`),
 * which groups containers by the same annotation.
 */
export const SHIM_RUNTIME = e2eRuntime() ?? BERTH_RUNTIME;

/**
 * The shim processes serving tasks whose init pids are `pids`: both shims are
 * child subreapers, so a container's init is the child of the shim that
 * supervises it. Fails if a parent is not `runtime`'s shim binary (e.g. the
 * container was reparented to init after its shim died).
 */
export function shimsServing(pids: readonly number[], runtime: string): number[] {
  const shims = new Set<number>();
  for (const pid of pids) {
    const parent = parentOf(pid);
    if (parent === undefined) throw new Error(`pid ${pid} is gone`);
    if (!isShimOf(parent, runtime)) {
      throw new Error(
        `pid ${pid}'s parent ${parent} is not a ${runtime} shim: ${cmdlineOf(parent)}`,
      );
    }
    shims.add(parent);
  }
  return [...shims].sort((a, b) => a - b);
}

function cmdlineOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
  } catch {
    return '(gone)';
  }
}

/**
 * runc's state root for `runtime`'s tasks on a daemon (runc keeps a task
 * under `<this>/<namespace>/<id>`): berthd gives the runc shims its own
 * `<state>/runc`; containerd leaves the shims' default, /run/containerd/runc.
 */
export function runcRootFor(d: Pick<TestDaemon, 'kind' | 'state'>, _runtime: string): string {
  return runcRoot(d);
}

/** Where runc keeps the state of container `id` in `namespace`. */
export function runcStateDir(
  d: Pick<TestDaemon, 'kind' | 'state'>,
  runtime: string,
  namespace: string,
  id: string,
): string {
  return join(runcRootFor(d, runtime), namespace, id);
}

/** Memory of a process from /proc/<pid>/smaps_rollup (KiB); zeros once it is gone. */
export interface Memory {
  pssKiB: number;
  rssKiB: number;
}

export function memoryOf(pid: number): Memory {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  } catch {
    return { pssKiB: 0, rssKiB: 0 };
  }
  const field = (name: string) =>
    Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
  return { pssKiB: field('Pss'), rssKiB: field('Rss') };
}
