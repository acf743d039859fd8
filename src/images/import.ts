/**
 * @module
 * Import: containerd's `images/archive` importer and `client.Import` over
 * core's contracts. The archive (plain or gzip, detected) is read once as a
 * stream: every regular file goes to the content store as it passes, digested
 * on the way (`blobs/sha256/<hex>` checked against its name), so nothing is
 * held in memory and docker-save's `manifest.json` may come last. Then:
 *
 * - an OCI layout (`oci-layout` + `index.json`, docker 25's saves included):
 *   index.json is the root;
 * - a docker save (`manifest.json`): for each entry a Docker schema 2
 *   manifest is written from its config and layers (media types from the
 *   layers' compression, or the compressed blob a `containerd.io/uncompressed`
 *   label names), and an index over them annotated with the normalized
 *   `RepoTags` (`io.containerd.image.name`, `org.opencontainers.image.ref.name`).
 *
 * Names come from the root index's annotations as containerd's: the image
 * name annotation, else the OCI ref name (through `baseName`: a bare tag
 * becomes `<baseName>:<tag>`); `indexName` names the whole index; `digests`
 * adds `<baseName or import-YYYY-MM-DD>@<digest>` records; `references`
 * names them as containerd's transfer image store instead. The walk below the
 * root keeps the platforms asked (default the host's) and labels parents with
 * `gc.ref` labels; a missing blob of a platform that was not asked for is
 * skipped with a warning, one of an asked platform is `not_found`.
 */
import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { compress, decompressStream, readTar } from '../archive/index.js';
import type { Descriptor } from '../core/content/index.js';
import { invalidArgument, isNotFound, notFound } from '../core/errdefs/index.js';
import type { Image } from '../core/images/index.js';
import type { Labels } from '../core/labels/index.js';
import type { OpContext } from '../core/namespaces/index.js';
import {
  all,
  format,
  type MatchComparer,
  matcherFor,
  normalize,
  type Platform,
} from '../core/platforms/index.js';
import type { ImageStores, ProgressFn } from '../core/transfer/index.js';
import { hasBlob, readJson, setLabels, writeStream } from './blobs.js';
import { withLease } from './lease.js';
import {
  filterManifests,
  type ImageConfigJson,
  type IndexJson,
  type PlatformDescriptor,
  readIndex,
  readManifest,
} from './manifest.js';
import {
  ANNOTATION_IMAGE_NAME,
  ANNOTATION_REF_NAME,
  childrenLabels,
  isIndex,
  isManifest,
  MT,
} from './media-types.js';
import { normalizeName, ociReferenceName } from './names.js';
import { putImageTarget } from './records.js';
import { unpack } from './unpack.js';

export interface ImportOptions {
  /** Names bare OCI ref names (`latest`) `<baseName>:<tag>`; the prefix of digest names. */
  baseName?: string;
  /** An image record for the whole archive's index. */
  indexName?: string;
  allPlatforms?: boolean;
  /** Platforms to import (default the host's). */
  platforms?: string[];
  unpack?: { snapshotter: string; platform?: string }[];
  /** Labels of the image records created. */
  labels?: Labels;
  onProgress?: ProgressFn;
  /** Also create image records named `<prefix>@<digest>` (ctr --digests). */
  digests?: boolean;
  /**
   * docker save only (containerd's WithImportCompression, ctr
   * --compress-blobs): an uncompressed layer is gzipped into a new blob
   * labelled with its uncompressed digest, and the manifest names that one.
   */
  forceCompress?: boolean;
  /**
   * Names the root index's manifests as containerd 1.7's transfer image
   * store does on import (its prefix references); when given, `baseName`
   * and `digests` are not used.
   */
  references?: ImportReference[];
}

/**
 * A prefix reference of containerd's transfer `ImageStore` (`ImageReference`
 * with `is_prefix`), as it names an imported manifest from its annotations:
 * a bare tag becomes `<name>:<tag>`; a full name is kept when
 * `allowOverwrite`, else only when it lies under `name` (`name` followed by
 * `/`, `:` or `@`). `addDigest` adds `<name>@<digest>`: to every manifest,
 * or with `skipNamedDigest` only to those that got no name.
 */
export interface ImportReference {
  name: string;
  allowOverwrite?: boolean;
  addDigest?: boolean;
  skipNamedDigest?: boolean;
}

const LABEL_UNCOMPRESSED = 'containerd.io/uncompressed';

/** The largest JSON file read from an archive (containerd's jsonLimit). */
const JSON_LIMIT = 20 << 20;

interface DockerManifestEntry {
  Config: string;
  RepoTags?: string[] | null;
  Layers: string[];
}

/** containerd's AddRefPrefix: a bare tag gets `<image>:`; anything with / : @ stays. */
function addRefPrefix(image: string): (ref: string) => string {
  return (ref) => {
    if (image === '') return '';
    if (/[/:@]/.test(ref)) return ref;
    return `${image}:${ref}`;
  };
}

/** containerd's refTranslator: `checkPrefix` drops full names not under `image`. */
function refTranslator(image: string, checkPrefix: boolean): (ref: string) => string {
  return (ref) => {
    if (image === '') return '';
    if (/[/:@]/.test(ref)) return checkPrefix && !isImagePrefix(ref, image) ? '' : ref;
    return `${image}:${ref}`;
  };
}

function isImagePrefix(s: string, prefix: string): boolean {
  if (!s.startsWith(prefix)) return false;
  return s.length === prefix.length || '/:@'.includes(s[prefix.length]!);
}

/**
 * The names one prefix reference gives a manifest (containerd's transfer
 * image store): the image name annotation only when the translation leaves
 * it as it is, else the OCI ref name translated.
 */
function referenceNames(
  annotations: Record<string, string> | undefined,
  digest: string,
  ref: ImportReference,
): string[] {
  const translate = refTranslator(ref.name, ref.allowOverwrite !== true);
  let name = annotations?.[ANNOTATION_IMAGE_NAME] ?? '';
  if (name !== '') {
    if (translate(name) !== name) name = '';
  } else {
    const refName = annotations?.[ANNOTATION_REF_NAME] ?? '';
    if (refName !== '') name = translate(refName);
  }
  const byDigest = `${ref.name}@${digest}`;
  if (name === '') return ref.addDigest ? [byDigest] : [];
  return ref.addDigest && !ref.skipNamedDigest ? [name, byDigest] : [name];
}

function imageName(
  annotations: Record<string, string> | undefined,
  translate?: (ref: string) => string,
): string {
  const name = annotations?.[ANNOTATION_IMAGE_NAME];
  if (name) return name;
  const ref = annotations?.[ANNOTATION_REF_NAME] ?? '';
  if (ref !== '' && translate) return translate(ref);
  return ref;
}

async function readEntryJson<T>(
  body: AsyncIterable<Buffer>,
  name: string,
  size: number,
): Promise<T> {
  if (size > JSON_LIMIT)
    throw invalidArgument(`archive: ${name} is ${size} bytes, more than ${JSON_LIMIT}`);
  const parts: Buffer[] = [];
  for await (const c of body) parts.push(c);
  try {
    return JSON.parse(Buffer.concat(parts).toString('utf8')) as T;
  } catch (err) {
    throw invalidArgument(`archive: ${name}: not valid JSON: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

const BLOB_PATH = /^blobs\/sha256\/([a-f0-9]{64})$/;

function cleanName(name: string): string {
  let n = posix.normalize(name);
  while (n.startsWith('./')) n = n.slice(2);
  if (n.endsWith('/')) n = n.slice(0, -1);
  return n;
}

interface Streamed {
  layout?: { imageLayoutVersion?: string };
  dockerManifests?: DockerManifestEntry[];
  blobs: Map<string, { digest: string; size: number }>;
}

/** Reads the archive once, storing every regular file as a blob. */
async function ingestArchive(
  ctx: OpContext,
  stores: ImageStores,
  input: AsyncIterable<Buffer>,
): Promise<Streamed> {
  const out: Streamed = { blobs: new Map() };
  const symlinks = new Map<string, string>();
  const stream = decompressStream('detect', input, { signal: ctx.signal });
  for await (const entry of readTar(stream)) {
    ctx.signal.throwIfAborted();
    const h = entry.header;
    if (h.type === 'symlink') {
      symlinks.set(
        cleanName(h.name),
        cleanName(posix.join(posix.dirname(cleanName(h.name)), h.linkname)),
      );
      continue;
    }
    if (h.type !== 'file') continue;
    const name = cleanName(h.name);
    if (name === 'oci-layout') {
      out.layout = await readEntryJson(entry.body, name, h.size);
    } else if (name === 'manifest.json') {
      const m = await readEntryJson<DockerManifestEntry[]>(entry.body, name, h.size);
      if (!Array.isArray(m)) throw invalidArgument('archive: manifest.json is not a list');
      out.dockerManifests = m;
    } else {
      const hex = BLOB_PATH.exec(name)?.[1];
      const blob = await writeStream(
        ctx,
        stores.content,
        `tar-${name}`,
        entry.body,
        h.size,
        hex ? `sha256:${hex}` : undefined,
      );
      out.blobs.set(name, blob);
    }
  }
  // docker save names layers through links (`<id>/layer.tar` → `../blobs/sha256/…`).
  for (const [name, target] of symlinks) {
    const blob = out.blobs.get(target);
    if (blob) out.blobs.set(name, blob);
  }
  return out;
}

async function writeJsonBlob(
  ctx: OpContext,
  stores: ImageStores,
  doc: unknown,
  mediaType: string,
): Promise<Descriptor> {
  const data = Buffer.from(JSON.stringify(doc));
  const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
  await writeStream(
    ctx,
    stores.content,
    `manifest-${digest}`,
    (async function* () {
      yield data;
    })(),
    data.length,
    digest,
  );
  return { mediaType, digest, size: data.length };
}

/** The layer media type docker-save's file should get (containerd's resolveLayers). */
async function dockerLayer(
  ctx: OpContext,
  stores: ImageStores,
  blob: { digest: string; size: number },
  forceCompress: boolean,
): Promise<Descriptor> {
  // A compressed blob that says it is this layer uncompressed (imported or pulled before) is preferred.
  const compressed = await stores.content.list(ctx, [
    `labels."${LABEL_UNCOMPRESSED}"=="${blob.digest}"`,
  ]);
  const pick = compressed[0] ?? { digest: blob.digest, size: blob.size };
  const first = await firstBytes(ctx, stores, pick.digest, 10);
  const gz = first[0] === 0x1f && first[1] === 0x8b && first[2] === 0x08;
  const zst = first[0] === 0x28 && first[1] === 0xb5 && first[2] === 0x2f && first[3] === 0xfd;
  if (forceCompress && !gz && !zst) {
    const hex = pick.digest.slice('sha256:'.length);
    const gzipped = await writeStream(
      ctx,
      stores.content,
      `compress-blob-sha256-${hex}`,
      compress('gzip', stores.content.read(ctx, pick.digest), { signal: ctx.signal }),
      0,
    );
    await setLabels(ctx, stores.content, gzipped.digest, { [LABEL_UNCOMPRESSED]: pick.digest });
    return { mediaType: MT.dockerLayerGzip, ...gzipped };
  }
  return {
    mediaType: gz || zst ? MT.dockerLayerGzip : MT.dockerLayer,
    digest: pick.digest,
    size: pick.size,
  };
}

async function firstBytes(
  ctx: OpContext,
  stores: ImageStores,
  digest: string,
  n: number,
): Promise<Buffer> {
  const parts: Buffer[] = [];
  let have = 0;
  for await (const c of stores.content.read(ctx, digest, { offset: 0, size: n })) {
    parts.push(c);
    have += c.length;
    if (have >= n) break;
  }
  return Buffer.concat(parts).subarray(0, n);
}

/** docker save → an index of Docker schema 2 manifests (containerd's ImportIndex). */
async function dockerIndex(
  ctx: OpContext,
  stores: ImageStores,
  s: Streamed,
  entries: DockerManifestEntry[],
  forceCompress: boolean,
): Promise<Descriptor> {
  const manifests: PlatformDescriptor[] = [];
  for (const e of entries) {
    const cfgBlob = s.blobs.get(cleanName(e.Config ?? ''));
    if (!cfgBlob) throw notFound(`archive: image config ${JSON.stringify(e.Config)} not found`);
    const config: Descriptor = { mediaType: MT.dockerConfig, ...cfgBlob };
    const layers: Descriptor[] = [];
    for (const l of e.Layers ?? []) {
      const blob = s.blobs.get(cleanName(l));
      if (!blob) throw notFound(`archive: layer ${JSON.stringify(l)} not found`);
      layers.push(await dockerLayer(ctx, stores, blob, forceCompress));
    }
    const desc: PlatformDescriptor = await writeJsonBlob(
      ctx,
      stores,
      { schemaVersion: 2, mediaType: MT.dockerManifest, config, layers },
      MT.dockerManifest,
    );
    const cfg = await readJson<ImageConfigJson>(ctx, stores.content, config);
    if (cfg.os) {
      const p: Platform = { os: cfg.os, architecture: cfg.architecture };
      if (cfg.variant) p.variant = cfg.variant;
      desc.platform = normalize(p);
    }
    const tags = e.RepoTags ?? [];
    if (tags.length === 0) manifests.push(desc);
    for (const tag of tags) {
      const normalized = normalizeName(tag);
      manifests.push({
        ...desc,
        annotations: {
          [ANNOTATION_IMAGE_NAME]: normalized,
          [ANNOTATION_REF_NAME]: ociReferenceName(normalized),
        },
      });
    }
  }
  const index: IndexJson = { schemaVersion: 2, mediaType: MT.ociIndex, manifests };
  return writeJsonBlob(ctx, stores, index, MT.ociIndex);
}

/**
 * Imports a docker-save or OCI-layout archive and returns the image records
 * it created or updated.
 */
export async function importArchive(
  ctx: OpContext,
  stores: ImageStores,
  input: AsyncIterable<Buffer>,
  opts: ImportOptions = {},
): Promise<Image[]> {
  const wanted: MatchComparer = matcherFor(opts.platforms);
  const walkMatcher = opts.allPlatforms ? all : wanted;
  return withLease(ctx, stores, async (lctx) => {
    opts.onProgress?.({ event: 'Importing', name: '', progress: 0, total: 0 });
    const s = await ingestArchive(lctx, stores, input);
    let root: Descriptor;
    if (s.layout) {
      if (s.layout.imageLayoutVersion !== '1.0.0') {
        throw invalidArgument(
          `archive: unsupported OCI layout version ${JSON.stringify(s.layout.imageLayoutVersion)}`,
        );
      }
      const idx = s.blobs.get('index.json');
      if (!idx) throw invalidArgument('archive: missing index.json in OCI layout 1.0.0');
      root = { mediaType: MT.ociIndex, ...idx };
    } else if (s.dockerManifests) {
      root = await dockerIndex(lctx, stores, s, s.dockerManifests, opts.forceCompress === true);
    } else {
      throw invalidArgument('archive: unrecognized image format (no oci-layout, no manifest.json)');
    }

    const records: { name: string; target: Descriptor }[] = [];
    if (opts.indexName) records.push({ name: opts.indexName, target: root });
    const translate = opts.baseName ? addRefPrefix(opts.baseName) : undefined;
    const prefix = opts.baseName || `import-${new Date().toISOString().slice(0, 10)}`;
    const index = await readIndex(lctx, stores.content, root);
    for (const m of index.manifests) {
      const target: Descriptor = { mediaType: m.mediaType, digest: m.digest, size: m.size };
      if (m.annotations) target.annotations = m.annotations;
      if (opts.references !== undefined) {
        for (const ref of opts.references) {
          for (const name of referenceNames(m.annotations, m.digest, ref)) {
            records.push({ name, target });
          }
        }
        continue;
      }
      const name = imageName(m.annotations, translate);
      if (name !== '') records.push({ name, target });
      if (opts.digests) records.push({ name: `${prefix}@${m.digest}`, target });
    }

    const skipped = async (desc: Descriptor, platform: Platform | undefined): Promise<boolean> => {
      if (await hasBlob(lctx, stores.content, desc.digest)) return false;
      if (platform && !wanted.match(platform)) {
        const what = `${desc.mediaType} ${desc.digest} of platform ${format(platform)}`;
        lctx.log.warn(
          { digest: desc.digest, platform: format(platform) },
          `import: ${what} is not in the archive: skipped`,
        );
        opts.onProgress?.({
          event: 'skipped',
          name: desc.digest,
          progress: 0,
          total: desc.size,
          desc,
        });
        return true;
      }
      throw notFound(
        `import: ${desc.mediaType} ${desc.digest}${platform ? ` of platform ${format(platform)}` : ''} is not in the archive`,
      );
    };
    const walk = async (
      desc: PlatformDescriptor,
      platform: Platform | undefined,
    ): Promise<void> => {
      if (await skipped(desc, platform)) return;
      if (isIndex(desc.mediaType)) {
        const idx =
          desc.digest === root.digest ? index : await readIndex(lctx, stores.content, desc);
        const kids = filterManifests(idx.manifests, walkMatcher);
        await setLabels(lctx, stores.content, desc.digest, childrenLabels(kids));
        for (const k of kids) await walk(k, k.platform ? normalize(k.platform) : platform);
      } else if (isManifest(desc.mediaType)) {
        const m = await readManifest(lctx, stores.content, desc);
        const kids = [m.config, ...m.layers];
        await setLabels(lctx, stores.content, desc.digest, childrenLabels(kids));
        for (const k of kids) await skipped(k, platform);
      }
    };
    await walk(root, undefined);

    const images: Image[] = [];
    for (const r of records) {
      const image = await putImageTarget(lctx, stores, { ...r, labels: opts.labels ?? {} });
      images.push(image);
      opts.onProgress?.({
        event: 'saved',
        name: image.name,
        progress: 0,
        total: 0,
        desc: image.target,
      });
    }

    for (const u of opts.unpack ?? []) {
      const done = new Set<string>();
      for (const image of images) {
        if (done.has(image.target.digest)) continue;
        done.add(image.target.digest);
        try {
          await unpack(lctx, stores, image, {
            snapshotter: u.snapshotter,
            ...(u.platform && { platform: u.platform }),
            ...(opts.onProgress && { onProgress: opts.onProgress }),
          });
        } catch (err) {
          // An image without the unpack platform is imported, not unpacked (containerd's ctr does the same).
          if (!isNotFound(err) || !/^manifest for /.test((err as Error).message)) throw err;
          lctx.log.info({ image: image.name }, `import: not unpacked: ${(err as Error).message}`);
        }
      }
    }
    opts.onProgress?.({ event: 'Completed import', name: '', progress: 0, total: 0 });
    if (images.length === 0) {
      lctx.log.warn('import: the archive names no image (use indexName or baseName with digests)');
    }
    return images;
  });
}
