/**
 * `image prune`'s work, shared with `system prune`: deletes the records
 * prune-plan.ts picks and answers docker's lines for them.
 */
import type { Client } from '../../client/index.js';
import { containersByImage, listSummaries } from './catalog.js';
import { passes } from './list-rows.js';
import { familiar } from './names.js';
import { prunePlan } from './prune-plan.js';

/**
 * Removes the dangling images (with `all`, every image no container was
 * made from) that pass `filters` (list-rows.ts's parseImageFilters);
 * answers docker's `Deleted Images:` lines (`untagged: <name>`, then
 * `deleted: <id>` when an ID's last name goes) and the bytes of the blobs
 * no remaining image shares.
 */
export async function pruneImages(
  client: Client,
  all: boolean,
  filters: ReadonlyMap<string, readonly string[]> = new Map(),
): Promise<{ lines: string[]; reclaimed: number }> {
  const used = new Set((await containersByImage(client)).keys());
  const summaries = (await listSummaries(client)).filter((s) =>
    passes(s, filters, () => undefined),
  );
  const candidates = await Promise.all(
    summaries.map(async (s) => {
      const blobs = new Map<string, number>([[s.record.target.digest, s.record.target.size]]);
      const m = await s.image.manifest().catch(() => undefined);
      for (const d of m === undefined ? [] : [m.config, ...m.layers]) blobs.set(d.digest, d.size);
      return { name: s.record.name, id: s.id, blobs };
    }),
  );
  const { remove, reclaimed } = prunePlan(candidates, used, all);
  const lines: string[] = [];
  const removed = new Set(remove.map((c) => c.name));
  const left = new Set(candidates.filter((c) => !removed.has(c.name)).map((c) => c.id));
  for (const [i, c] of remove.entries()) {
    await client.imageService().delete(client.context(), c.name, { sync: i === remove.length - 1 });
    lines.push(`untagged: ${familiar(c.name)}`);
    // An ID is deleted with its last name (docker's lines), unless a name of it stays.
    const last = !remove.slice(i + 1).some((o) => o.id === c.id);
    if (last && !left.has(c.id)) lines.push(`deleted: ${c.id}`);
  }
  return { lines, reclaimed };
}
