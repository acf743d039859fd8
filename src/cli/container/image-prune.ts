import type { Client } from '../../client/index.js';
import { Labels } from '../labels.js';

/** An image no tag names: its name is a digest reference (`repo@sha256:…`) or a bare digest. */
export function isDangling(name: string): boolean {
  return name.includes('@') || /^sha256:[0-9a-f]{64}$/.test(name);
}

/**
 * Removes dangling images, or with `all` every image no container refers to
 * (by record or by `berth/image`); answers the names removed and the bytes
 * of the blobs no remaining image shares (what the daemon's collector frees).
 */
export async function pruneImages(
  client: Client,
  all: boolean,
): Promise<{ deleted: string[]; reclaimed: number }> {
  const ctx = client.context();
  const [images, containers] = await Promise.all([
    client.listImages(),
    client.containerService().list(ctx),
  ]);
  const used = new Set<string>();
  for (const c of containers) {
    used.add(c.image);
    const typed = c.labels[Labels.image];
    if (typed !== undefined) used.add(typed);
  }
  const doomed = images.filter((i) => !used.has(i.name) && (all || isDangling(i.name)));
  if (doomed.length === 0) return { deleted: [], reclaimed: 0 };
  const blobs = async (img: (typeof images)[number]) => {
    try {
      const m = await img.manifest();
      return [img.target, m.config, ...m.layers];
    } catch {
      return [img.target];
    }
  };
  const kept = new Set<string>();
  for (const img of images.filter((i) => !doomed.includes(i))) {
    for (const d of await blobs(img)) kept.add(d.digest);
  }
  const freed = new Map<string, number>();
  for (const img of doomed) {
    for (const d of await blobs(img)) if (!kept.has(d.digest)) freed.set(d.digest, Number(d.size));
  }
  const deleted: string[] = [];
  for (const img of doomed) {
    await client.imageService().delete(ctx, img.name);
    deleted.push(img.name);
  }
  return { deleted, reclaimed: [...freed.values()].reduce((a, b) => a + b, 0) };
}
