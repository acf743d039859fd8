/**
 * The daemon's image records as docker's image list sees them: each with
 * its ID (the config digest for this host's platform, docker's image ID),
 * its creation time and size, and the lookups `rmi`, `tag` and `inspect`
 * share (a name, a full ID or a unique ID prefix).
 */
import type { Client, Image, ImageConfigJson } from '../../../client/index.js';
import { isNotFound } from '../../../core/errdefs/index.js';
import type { Image as ImageRecord } from '../../../core/images/index.js';
import { CliError } from '../../errors.js';
import { idMatches, isIdPrefix, normalizeOrUndefined, shortId } from './names.js';

export interface ImageSummary {
  readonly record: ImageRecord;
  readonly image: Image;
  /** docker's image ID: `sha256:<config digest>`; the target's digest when this platform has no manifest. */
  readonly id: string;
  /** The config, undefined when this platform has none in the content store. */
  readonly config: ImageConfigJson | undefined;
  /** The config's `created`, else the record's creation. */
  readonly created: Date;
  /**
   * docker's SIZE: the unpacked size (the layers' snapshots in the default
   * snapshotter) when the image is unpacked, else the bytes of its blobs in
   * the content store (compressed layers, manifest, config).
   */
  readonly size: number;
  /** Which of the two `size` is. */
  readonly sizeKind: 'unpacked' | 'content';
}

/** One record's summary; what cannot be read (a platform missing, blobs gone) falls back as docker shows it. */
export async function summarize(client: Client, record: ImageRecord): Promise<ImageSummary> {
  const { Image } = await import('../../../client/index.js');
  const image = new Image(client, record);
  let id = record.target.digest;
  let config: ImageConfigJson | undefined;
  try {
    id = (await image.config()).digest;
    config = await image.spec();
  } catch {
    // No manifest for this platform, or blobs missing: the target stands for it.
  }
  const unpacked = config === undefined ? undefined : await unpackedSize(client, config);
  const size = unpacked ?? (await image.size().catch(() => record.target.size));
  const fromConfig = config?.created !== undefined ? new Date(config.created) : undefined;
  const created =
    fromConfig !== undefined && !Number.isNaN(fromConfig.getTime())
      ? fromConfig
      : new Date(Number(record.createdAt / 1_000_000n));
  return {
    record,
    image,
    id,
    config,
    created,
    size,
    sizeKind: unpacked === undefined ? 'content' : 'unpacked',
  };
}

/**
 * The sum of the layer snapshots' usage in the default snapshotter (each
 * committed snapshot, keyed by its chain ID, holds its own layer);
 * undefined when a layer is not unpacked there.
 */
async function unpackedSize(client: Client, config: ImageConfigJson): Promise<number | undefined> {
  const { createHash } = await import('node:crypto');
  const { DEFAULT_SNAPSHOTTER } = await import('../../../client/index.js');
  const sn = client.snapshotService(DEFAULT_SNAPSHOTTER);
  let chain = '';
  let total = 0;
  for (const diffId of config.rootfs.diff_ids) {
    chain =
      chain === ''
        ? diffId
        : `sha256:${createHash('sha256').update(`${chain} ${diffId}`).digest('hex')}`;
    try {
      total += (await sn.usage(client.context(), chain)).size;
    } catch {
      return undefined;
    }
  }
  return config.rootfs.diff_ids.length === 0 ? undefined : total;
}

/** Every image record of the namespace, summarized, newest first (docker's order). */
export async function listSummaries(
  client: Client,
  filters: readonly string[] = [],
): Promise<ImageSummary[]> {
  const records = await client.imageService().list(client.context(), filters);
  const out = await Promise.all(records.map((r) => summarize(client, r)));
  return out.sort(
    (a, b) =>
      b.created.getTime() - a.created.getTime() || a.record.name.localeCompare(b.record.name),
  );
}

/** What a user's image argument matched: one record by name, or every record of an image ID. */
export interface Resolved {
  /** `name`: the argument named one record; `id`: it was an image ID or prefix. */
  readonly by: 'name' | 'id';
  readonly id: string;
  readonly summaries: ImageSummary[];
}

/**
 * The image a user means by `arg`, as docker resolves it: a name
 * (`busybox` → `docker.io/library/busybox:latest`, or a record's exact
 * name), else a full image ID or a unique prefix of one. Fails with
 * docker's "No such image: <arg>".
 */
export async function resolveImage(
  client: Client,
  arg: string,
  all?: ImageSummary[],
): Promise<Resolved> {
  const store = client.imageService();
  for (const name of new Set([normalizeOrUndefined(arg), arg])) {
    if (name === undefined) continue;
    const rec = await store.get(client.context(), name).catch((err: unknown) => {
      if (isNotFound(err)) return undefined;
      throw err;
    });
    if (rec !== undefined) {
      const s = await summarize(client, rec);
      return { by: 'name', id: s.id, summaries: [s] };
    }
  }
  if (isIdPrefix(arg)) {
    const list = all ?? (await listSummaries(client));
    const hits = list.filter((s) => idMatches(s.id, arg));
    const ids = [...new Set(hits.map((s) => s.id))];
    if (ids.length > 1) {
      throw new CliError(`multiple images match "${arg}": ${ids.map(shortId).join(', ')}`);
    }
    if (ids.length === 1) return { by: 'id', id: ids[0] as string, summaries: hits };
  }
  throw new CliError(`No such image: ${arg}`);
}

/** Containers using each image record name (containerd's container record `image` field). */
export async function containersByImage(client: Client): Promise<Map<string, string[]>> {
  const containers = await client.containerService().list(client.context());
  const out = new Map<string, string[]>();
  for (const c of containers) {
    if (c.image === '') continue;
    out.set(c.image, [...(out.get(c.image) ?? []), c.id]);
  }
  return out;
}
