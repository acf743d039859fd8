/**
 * @module
 * Export: containerd's `images/archive` exporter over core's contracts. One
 * tar, streamed to the writable (never the whole archive or a whole blob in
 * memory), sorted by name as containerd writes it:
 *
 * - `oci-layout` (`{"imageLayoutVersion":"1.0.0"}`) and `blobs/sha256/<hex>`
 *   for every blob of the images (indexes filtered to the platforms asked:
 *   default the host's, or all), each checked against its digest as it is
 *   copied;
 * - `index.json` listing each image's target annotated with
 *   `io.containerd.image.name` (its name) and `org.opencontainers.image.ref.name`
 *   (its tag), and the blobs' distribution-source labels;
 * - Docker's `manifest.json` (`Config`, `RepoTags` in familiar form, `Layers`;
 *   for an index, its best manifest for the platform) unless
 *   `skipDockerManifest`. containerd 1.7 writes no `repositories` file; nor does berth.
 *
 * With `skipMissing`, a manifest missing locally is left out, and so are the
 * config and layers of a manifest when any of them is missing (the index still
 * names every manifest), as containerd's WithSkipMissing.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { type TarWriteHeader, TarWriter } from '../archive/index.js';
import type { Descriptor } from '../core/content/index.js';
import { dataLoss, invalidArgument, notFound } from '../core/errdefs/index.js';
import type { Image } from '../core/images/index.js';
import type { OpContext } from '../core/namespaces/index.js';
import { type MatchComparer, matcherFor, normalize } from '../core/platforms/index.js';
import type { ImageStores, ProgressFn } from '../core/transfer/index.js';
import { hasBlob } from './blobs.js';
import { type PlatformDescriptor, readIndex, readManifest } from './manifest.js';
import {
  ANNOTATION_IMAGE_NAME,
  ANNOTATION_REF_NAME,
  isIndex,
  isManifest,
  isNonDistributable,
} from './media-types.js';
import { familiarName, ociReferenceName } from './names.js';

export interface ExportOptions {
  /** Platforms to export (default the host's); ignored with allPlatforms. */
  platforms?: string[];
  allPlatforms?: boolean;
  skipMissing?: boolean;
  skipDockerManifest?: boolean;
  /**
   * Leaves out of the archive the blobs of non-distributable layers
   * (containerd's WithSkipNonDistributableBlobs); manifests still name them.
   */
  skipNonDistributable?: boolean;
  onProgress?: ProgressFn;
}

interface TarRecord {
  header: TarWriteHeader;
  body?: () => AsyncIterable<Buffer>;
}

const DIST_SOURCE_PREFIX = 'containerd.io/distribution.source';

function jsonRecord(name: string, doc: unknown, mode: number): TarRecord {
  const data = Buffer.from(JSON.stringify(doc));
  return {
    header: { name, type: 'file', mode, size: data.length },
    body: async function* () {
      yield data;
    },
  };
}

async function* verified(
  source: AsyncIterable<Buffer>,
  desc: Descriptor,
): AsyncGenerator<Buffer, void, undefined> {
  const hash = createHash('sha256');
  for await (const chunk of source) {
    hash.update(chunk);
    yield chunk;
  }
  const got = `sha256:${hash.digest('hex')}`;
  if (got !== desc.digest) throw dataLoss(`export: blob ${desc.digest} reads back as ${got}`);
}

/**
 * Writes `images` as one archive to `output`, honouring back-pressure. The
 * output is not ended: the caller owns it (as containerd's Export writes to an
 * io.Writer). Fails `not_found` before writing anything when a blob is missing
 * (unless `skipMissing`), `invalid_argument` for a target that is neither a
 * manifest nor an index.
 */
export async function exportArchive(
  ctx: OpContext,
  stores: ImageStores,
  output: NodeJS.WritableStream,
  images: (Image | { name: string; target: Descriptor })[],
  opts: ExportOptions = {},
): Promise<void> {
  const platform: MatchComparer | undefined = opts.allPlatforms
    ? undefined
    : matcherFor(opts.platforms);
  const records = new Map<string, TarRecord>();
  const blobs: Descriptor[] = [];
  const blobRecord = (desc: Descriptor) => {
    if (opts.skipNonDistributable && isNonDistributable(desc.mediaType)) return;
    const name = `blobs/sha256/${desc.digest.slice('sha256:'.length)}`;
    if (records.has(name)) return;
    blobs.push(desc);
    records.set(name, {
      header: { name, type: 'file', mode: 0o444, size: desc.size },
      body: () => verified(stores.content.read(ctx, desc.digest), desc),
    });
  };

  /** A manifest or index and everything below it (containerd's getRecords). */
  const walk = async (desc: Descriptor): Promise<void> => {
    if (isManifest(desc.mediaType)) {
      if (!(await hasBlob(ctx, stores.content, desc.digest))) {
        if (opts.skipMissing) return;
        throw notFound(
          `export: manifest ${desc.digest} is not in the content store (skipMissing leaves it out)`,
        );
      }
      blobRecord(desc);
      const m = await readManifest(ctx, stores.content, desc);
      const kids = [m.config, ...m.layers];
      if (opts.skipMissing) {
        for (const k of kids) if (!(await hasBlob(ctx, stores.content, k.digest))) return;
      }
      for (const k of kids) blobRecord(k);
      return;
    }
    blobRecord(desc);
    if (isIndex(desc.mediaType)) {
      for (const m of (await readIndex(ctx, stores.content, desc)).manifests) await walk(m);
    }
  };

  const dockerManifests = new Map<string, { manifest: Descriptor; names: string[] }>();
  const indexManifests: Descriptor[] = [];
  for (const image of images) {
    const target = image.target;
    const annotations: Record<string, string> = { ...(target.annotations ?? {}) };
    try {
      const info = await stores.content.info(ctx, target.digest);
      for (const [k, v] of Object.entries(info.labels)) {
        if (k.startsWith(DIST_SOURCE_PREFIX)) annotations[k] = v;
      }
    } catch (err) {
      throw notFound(`export: image ${image.name}: ${(err as Error).message}`, { cause: err });
    }
    annotations[ANNOTATION_IMAGE_NAME] = image.name;
    annotations[ANNOTATION_REF_NAME] = ociReferenceName(image.name);
    indexManifests.push({
      mediaType: target.mediaType,
      digest: target.digest,
      size: target.size,
      annotations,
    });

    if (isManifest(target.mediaType)) {
      await walk(target);
      const entry = dockerManifests.get(target.digest) ?? { manifest: target, names: [] };
      entry.names.push(image.name);
      dockerManifests.set(target.digest, entry);
    } else if (isIndex(target.mediaType)) {
      blobRecord(target);
      const index = await readIndex(ctx, stores.content, target);
      const candidates: PlatformDescriptor[] = [];
      for (const m of index.manifests) {
        if (platform) {
          if (m.platform === undefined || platform.match(normalize(m.platform))) candidates.push(m);
          else continue;
        }
        await walk(m);
      }
      if (platform) {
        const present: PlatformDescriptor[] = [];
        for (const c of candidates) {
          if (isManifest(c.mediaType) && (await hasBlob(ctx, stores.content, c.digest)))
            present.push(c);
        }
        if (present.length === 0) {
          throw notFound(`export: image ${image.name}: no manifest found for platform`);
        }
        present.sort((a, b) => {
          if (!a.platform) return 1;
          if (!b.platform) return -1;
          return platform.less(normalize(a.platform), normalize(b.platform)) ? -1 : 0;
        });
        const best = present[0]!;
        const entry = dockerManifests.get(best.digest) ?? {
          manifest: { mediaType: best.mediaType, digest: best.digest, size: best.size },
          names: [],
        };
        entry.names.push(image.name);
        dockerManifests.set(best.digest, entry);
      }
    } else {
      throw invalidArgument(
        `export: image ${image.name}: only manifests and indexes may be exported, not ${target.mediaType}`,
      );
    }
  }

  records.set('oci-layout', jsonRecord('oci-layout', { imageLayoutVersion: '1.0.0' }, 0o444));
  records.set(
    'index.json',
    jsonRecord('index.json', { schemaVersion: 2, manifests: indexManifests }, 0o644),
  );
  if (!opts.skipDockerManifest && dockerManifests.size > 0) {
    const list = [];
    for (const { manifest, names } of dockerManifests.values()) {
      const m = await readManifest(ctx, stores.content, manifest);
      list.push({
        Config: `blobs/sha256/${m.config.digest.slice('sha256:'.length)}`,
        RepoTags: names.map(familiarName),
        Layers: m.layers.map((l) => `blobs/sha256/${l.digest.slice('sha256:'.length)}`),
      });
    }
    records.set('manifest.json', jsonRecord('manifest.json', list, 0o644));
  }
  records.set('blobs', { header: { name: 'blobs/', type: 'dir', mode: 0o755 } });
  records.set('blobs/sha256', { header: { name: 'blobs/sha256/', type: 'dir', mode: 0o755 } });

  // Every blob is there before the first byte is written: a missing one fails the export, not the archive half-way.
  for (const b of blobs) {
    if (!(await hasBlob(ctx, stores.content, b.digest))) {
      throw notFound(`export: blob ${b.digest} (${b.mediaType}) is not in the content store`);
    }
  }
  opts.onProgress?.({ event: 'Exporting', name: '', progress: 0, total: 0 });
  const sorted = [...records.values()].sort((a, b) =>
    a.header.name < b.header.name ? -1 : a.header.name > b.header.name ? 1 : 0,
  );
  const tar = new TarWriter();
  const write = async (chunk: Buffer) => {
    ctx.signal.throwIfAborted();
    if (!output.write(chunk))
      await once(output as unknown as NodeJS.EventEmitter, 'drain', { signal: ctx.signal });
  };
  for (const r of sorted) {
    for await (const chunk of tar.entry(r.header, r.body?.())) await write(chunk);
  }
  await write(tar.end());
  opts.onProgress?.({ event: 'Completed export', name: '', progress: 0, total: 0 });
}
