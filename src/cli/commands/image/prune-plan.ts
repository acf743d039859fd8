/** Which images `image prune` removes and what that frees. Pure. */
import { isDangling } from './names.js';

export interface PruneCandidate {
  readonly name: string;
  readonly id: string;
  /** The blobs the image holds: `digest` → size (target, manifest, config, layers). */
  readonly blobs: ReadonlyMap<string, number>;
}

/**
 * The records to delete: without `all`, the dangling ones (names.ts); with
 * `all`, every one. An image ID a container was made from is kept whole (a
 * container's record names one of its names).
 */
export function prunePlan(
  images: readonly PruneCandidate[],
  usedNames: ReadonlySet<string>,
  all: boolean,
): { remove: PruneCandidate[]; reclaimed: number } {
  const usedIds = new Set(images.filter((i) => usedNames.has(i.name)).map((i) => i.id));
  const remove = images.filter((i) => !usedIds.has(i.id) && (all || isDangling(i.name)));
  const removed = new Set(remove.map((i) => i.name));
  const kept = new Set<string>();
  for (const i of images) if (!removed.has(i.name)) for (const d of i.blobs.keys()) kept.add(d);
  const freed = new Map<string, number>();
  for (const i of remove) for (const [d, n] of i.blobs) if (!kept.has(d)) freed.set(d, n);
  let reclaimed = 0;
  for (const n of freed.values()) reclaimed += n;
  return { remove, reclaimed };
}
