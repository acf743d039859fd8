import type { Client, Image } from '../../client/index.js';
import { isNotFound } from '../../client/index.js';
import { normalizeReference } from '../../core/reference/index.js';

/**
 * The image named `ref` as docker finds it for `inspect`: the name as typed,
 * normalized (`busybox` → `docker.io/library/busybox:latest`), or a unique
 * prefix of its config digest (docker's image id); undefined when none.
 */
export async function findImage(client: Client, ref: string): Promise<Image | undefined> {
  const names = new Set([ref]);
  try {
    names.add(normalizeReference(ref));
  } catch {
    // not a reference: maybe an id
  }
  for (const name of names) {
    try {
      return await client.getImage(name);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
  const id = ref.replace(/^sha256:/, '');
  if (!/^[0-9a-f]{4,64}$/.test(id)) return undefined;
  const matches: Image[] = [];
  for (const img of await client.listImages()) {
    const config = await img.config().catch(() => undefined);
    if (config?.digest.startsWith(`sha256:${id}`) || img.target.digest.startsWith(`sha256:${id}`)) {
      matches.push(img);
    }
  }
  return matches.length === 1 ? matches[0] : undefined;
}

/** docker's `image inspect` object (the fields berth knows) of an image. */
export async function imageInspect(img: Image): Promise<Record<string, unknown>> {
  const [config, spec, size] = await Promise.all([img.config(), img.spec(), img.size()]);
  const name = img.name;
  const at = name.indexOf('@');
  return {
    Id: config.digest,
    RepoTags: at < 0 ? [name] : [],
    RepoDigests: [
      `${at < 0 ? name.replace(/:[^:/]+$/, '') : name.slice(0, at)}@${img.target.digest}`,
    ],
    Created: spec.created ?? '',
    Config: spec.config ?? {},
    Architecture: spec.architecture,
    Os: spec.os,
    ...(spec.variant !== undefined && { Variant: spec.variant }),
    Size: size,
    RootFS: { Type: spec.rootfs.type, Layers: spec.rootfs.diff_ids },
    Metadata: { LastTagTime: '0001-01-01T00:00:00Z' },
  };
}

/** The `inspect` objects of the images `refs` name, by ref (refs naming none are left out). */
export async function inspectImages(
  client: Client,
  refs: readonly string[],
): Promise<Map<string, Record<string, unknown>>> {
  const out = new Map<string, Record<string, unknown>>();
  for (const ref of refs) {
    const img = await findImage(client, ref);
    if (img !== undefined) out.set(ref, await imageInspect(img));
  }
  return out;
}
