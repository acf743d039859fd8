/** docker's `image inspect` object of what a user's image argument names, for `image inspect` and `inspect`. */
import type { Client } from '../../client/index.js';
import { type ImageSummary, lookupImage } from './catalog.js';
import { inspectObject } from './inspect-json.js';

/**
 * The inspect object of the image `arg` names (catalog.ts's lookup: a
 * name, an ID or a unique ID prefix); undefined when none. `all`: every
 * summary of the namespace (listSummaries), read once per command.
 */
export async function inspectImage(
  client: Client,
  arg: string,
  all: ImageSummary[],
): Promise<Record<string, unknown> | undefined> {
  const r = await lookupImage(client, arg, all);
  const s = r?.summaries[0];
  if (r === undefined || s === undefined) return undefined;
  return inspectObject(
    s,
    all.filter((o) => o.id === r.id),
  );
}
