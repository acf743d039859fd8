import { type Descriptor, validateDigest } from '../core/content/index.js';
import { alreadyExists, invalidArgument, notFound } from '../core/errdefs/index.js';
import { type Adaptor, fieldsAdaptor, parseFilters } from '../core/filters/index.js';
import type { Image, ImageStore } from '../core/images/index.js';
import { type Labels, validateLabels } from '../core/labels/index.js';
import { namespaceRequired, type OpContext } from '../core/namespaces/index.js';
import { nowNanos } from '../core/time/index.js';
import type { MetadataDB } from './db.js';
import { ensureNamespace } from './namespaces.js';

type ImageRecord = Omit<Image, 'createdAt' | 'updatedAt'>;

/** A row of `images`, read with safe integers (times and size are bigints). */
interface Row {
  name: string;
  target_media_type: string;
  target_digest: string;
  target_size: bigint;
  target_annotations: string;
  labels: string;
  created_at: bigint;
  updated_at: bigint;
}

const COLUMNS =
  'name, target_media_type, target_digest, target_size, target_annotations, labels, created_at, updated_at';

/**
 * {@link ImageStore} on the metadata database, with containerd's rules
 * (metadata/images.go):
 *
 * - Names are only required to be non-empty (they are references, not
 *   identifiers). Targets need a valid digest, a size above zero and a media
 *   type, checked in that order.
 * - Labels and annotations with an empty value are not stored.
 * - Update paths apply in the order given: `labels`, `labels.<key>`,
 *   `target` (the whole descriptor, annotations included), `annotations`,
 *   `annotations.<key>`. Without paths the image is replaced, creation time
 *   kept.
 * - Creating an image brings its namespace into being.
 *
 * Each mutation is one transaction.
 */
export class SqliteImageStore implements ImageStore {
  constructor(private readonly mdb: MetadataDB) {}

  async get(ctx: OpContext, name: string): Promise<Image> {
    const ns = namespaceRequired(ctx);
    const row = this.row(ns, name);
    if (!row) throw notFound(`image ${JSON.stringify(name)}`);
    return fromRow(row);
  }

  async list(ctx: OpContext, filters: readonly string[] = []): Promise<Image[]> {
    const ns = namespaceRequired(ctx);
    const filter = parseFilters(filters);
    const rows = this.mdb
      .prepare(`SELECT ${COLUMNS} FROM images WHERE namespace = ? ORDER BY name`)
      .safeIntegers(true)
      .all(ns) as Row[];
    return rows.map(fromRow).filter((image) => filter.match(imageAdaptor(image)));
  }

  async create(ctx: OpContext, image: ImageRecord): Promise<Image> {
    const ns = namespaceRequired(ctx);
    const record = normalize(image);
    validateImage(record);
    return this.mdb.update(() => {
      ensureNamespace(this.mdb, ns);
      if (this.row(ns, record.name)) {
        throw alreadyExists(`image ${JSON.stringify(record.name)}`);
      }
      const now = nowNanos();
      this.mdb
        .prepare(`INSERT INTO images (namespace, ${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
        .run(ns, ...columns(record), now, now);
      return { ...record, createdAt: now, updatedAt: now };
    });
  }

  async update(
    ctx: OpContext,
    image: ImageRecord,
    fieldpaths: readonly string[] = [],
  ): Promise<Image> {
    const ns = namespaceRequired(ctx);
    if (image.name === '') {
      throw invalidArgument('image name is required for update');
    }
    return this.mdb.update(() => {
      const row = this.row(ns, image.name);
      if (!row) throw notFound(`image ${JSON.stringify(image.name)}`);
      const current = fromRow(row);
      const record = normalize(
        fieldpaths.length > 0 ? applyPaths(current, image, fieldpaths) : image,
      );
      validateImage(record);
      const now = nowNanos();
      this.mdb
        .prepare(
          `UPDATE images SET target_media_type = ?, target_digest = ?, target_size = ?,
             target_annotations = ?, labels = ?, updated_at = ?
           WHERE namespace = ? AND name = ?`,
        )
        .run(...columns(record).slice(1), now, ns, record.name);
      return { ...record, createdAt: current.createdAt, updatedAt: now };
    });
  }

  async delete(ctx: OpContext, name: string): Promise<void> {
    const ns = namespaceRequired(ctx);
    this.mdb.update(() => {
      const res = this.mdb
        .prepare('DELETE FROM images WHERE namespace = ? AND name = ?')
        .run(ns, name);
      if (res.changes === 0) throw notFound(`image ${JSON.stringify(name)}`);
    });
  }

  private row(ns: string, name: string): Row | undefined {
    return this.mdb
      .prepare(`SELECT ${COLUMNS} FROM images WHERE namespace = ? AND name = ?`)
      .safeIntegers(true)
      .get(ns, name) as Row | undefined;
  }
}

/**
 * The fields containerd's image filters see (metadata/adaptors.go): `name`,
 * `target.digest`, `target.mediatype`, `labels.<key>`, `annotations.<key>`.
 */
export function imageAdaptor(image: Image): Adaptor {
  return fieldsAdaptor({
    name: image.name || undefined,
    target: {
      digest: image.target.digest || undefined,
      mediatype: image.target.mediaType || undefined,
    },
    labels: image.labels,
    annotations: image.target.annotations ?? {},
  });
}

/** Applies update paths to `current`, in order, taking values from `incoming`. */
function applyPaths(current: Image, incoming: ImageRecord, paths: readonly string[]): ImageRecord {
  let labels: Labels = { ...current.labels };
  let target: Descriptor = {
    ...current.target,
    annotations: { ...current.target.annotations },
  };
  for (const path of paths) {
    if (path.startsWith('labels.')) {
      const key = path.slice('labels.'.length);
      labels[key] = incoming.labels[key] ?? '';
    } else if (path.startsWith('annotations.')) {
      const key = path.slice('annotations.'.length);
      target.annotations = {
        ...target.annotations,
        [key]: incoming.target.annotations?.[key] ?? '',
      };
    } else if (path === 'labels') {
      labels = { ...incoming.labels };
    } else if (path === 'target') {
      // Replaced as a unit: digest, size and media type belong together.
      target = { ...incoming.target, annotations: { ...incoming.target.annotations } };
    } else if (path === 'annotations') {
      target.annotations = { ...incoming.target.annotations };
    } else {
      throw invalidArgument(
        `cannot update ${JSON.stringify(path)} field on image ${JSON.stringify(incoming.name)}`,
      );
    }
  }
  return { name: incoming.name, labels, target };
}

/** A copy without empty-valued labels and annotations (containerd stores none). */
function normalize(image: ImageRecord): ImageRecord {
  const { mediaType, digest, size } = image.target;
  const annotations = withoutEmpty(image.target.annotations ?? {});
  const target: Descriptor =
    Object.keys(annotations).length > 0
      ? { mediaType, digest, size, annotations }
      : { mediaType, digest, size };
  return { name: image.name, labels: withoutEmpty(image.labels ?? {}), target };
}

function withoutEmpty(map: Labels): Labels {
  const out: Labels = {};
  for (const [k, v] of Object.entries(map)) if (v !== '') out[k] = v;
  return out;
}

function validateImage(image: ImageRecord): void {
  if (image.name === '') {
    throw invalidArgument('image name must not be empty');
  }
  validateLabels(image.labels, 'image');
  const { digest, size, mediaType } = image.target;
  try {
    validateDigest(digest);
  } catch (err) {
    // validateDigest says `digest "x": reason`; keep the reason.
    const reason = (err as Error).message.replace(/^digest ".*?": /, '');
    throw invalidArgument(`Target.Digest ${JSON.stringify(digest)} invalid: ${reason}`, {
      cause: err,
    });
  }
  if (!(size > 0)) {
    throw invalidArgument('Target.Size must be greater than zero');
  }
  if (!Number.isSafeInteger(size)) {
    throw invalidArgument(`Target.Size ${size} is not a valid size`);
  }
  if (mediaType === '') {
    throw invalidArgument('Target.MediaType must be set');
  }
}

/** Column values in {@link COLUMNS} order, without the times. */
function columns(image: ImageRecord): [string, string, string, number, string, string] {
  const { mediaType, digest, size, annotations } = image.target;
  return [
    image.name,
    mediaType,
    digest,
    size,
    JSON.stringify(annotations ?? {}),
    JSON.stringify(image.labels),
  ];
}

function fromRow(row: Row): Image {
  const annotations = JSON.parse(row.target_annotations) as Labels;
  const target: Descriptor = {
    mediaType: row.target_media_type,
    digest: row.target_digest,
    size: Number(row.target_size),
  };
  if (Object.keys(annotations).length > 0) target.annotations = annotations;
  return {
    name: row.name,
    labels: JSON.parse(row.labels) as Labels,
    target,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
