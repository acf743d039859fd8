/**
 * @module
 * Test doubles for the spec options: layers built with berth's own tar
 * writer, an in-memory content store behind a {@link SpecClient}, and
 * images made of them.
 */
import { createHash, randomUUID } from 'node:crypto';
import { compress, type TarWriteEntry, writeTar } from '../../../archive/index.js';
import type { Descriptor } from '../../../core/content/index.js';
import { notFound } from '../../../core/errdefs/index.js';
import type { ImageConfig, SpecClient, SpecImage } from '../types.js';

/** One entry of a test layer. */
/** One entry of a test layer, in the shape test/helpers/images.ts builds real layers from. */
export type LayerEntry =
  | { type: 'file'; path: string; content?: string | Uint8Array; mode?: number }
  | { type: 'dir'; path: string; mode?: number }
  | { type: 'symlink'; path: string; target: string }
  /** A hard link to `target`, image-root relative. */
  | { type: 'hardlink'; path: string; target: string }
  /** `.wh.<name>` beside `path`: deletes `path` from the layers beneath. */
  | { type: 'whiteout'; path: string }
  /** The directory `path` with `.wh..wh..opq` in it. */
  | { type: 'opaque'; path: string; mode?: number };

export const LAYER_TAR = 'application/vnd.oci.image.layer.v1.tar';
export const LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const CONFIG = 'application/vnd.oci.image.config.v1+json';

/** Blobs by digest, and the {@link SpecClient} reading them. */
export class MemoryContent {
  readonly blobs = new Map<string, Buffer>();
  readonly images = new Map<string, SpecImage>();
  /** Digests read, in order (to check what was read and how often). */
  readonly reads: string[] = [];

  add(mediaType: string, data: Buffer): Descriptor {
    const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    this.blobs.set(digest, data);
    return { mediaType, digest, size: data.length };
  }

  /** Size of the chunks readBlob yields: small by default, so readers meet chunk boundaries. */
  constructor(readonly chunkSize = 1000) {}

  client(namespace = 'default', signal?: AbortSignal): SpecClient {
    const blobs = this.blobs;
    const chunk = this.chunkSize;
    const reads = this.reads;
    const images = this.images;
    return {
      namespace,
      ...(signal ? { signal } : {}),
      async *readBlob(desc) {
        const data = blobs.get(desc.digest);
        if (!data) throw notFound(`content digest ${desc.digest}`);
        reads.push(desc.digest);
        for (let i = 0; i < data.length; i += chunk) yield data.subarray(i, i + chunk);
      },
      async getImage(name) {
        const image = images.get(name);
        if (!image) throw notFound(`image "${name}"`);
        return image;
      },
    };
  }

  /**
   * A layer blob of `entries`, gzip-compressed unless `plain`. Each layer
   * gets a file of its own (`/.layer-<uuid>`), so that no two tests share a
   * digest, and with it what berth caches by digest.
   */
  async layer(entries: LayerEntry[], plain = false): Promise<Descriptor> {
    const own: LayerEntry = { type: 'file', path: `.layer-${randomUUID()}` };
    const tar = await collect(writeTar([...entries, own].flatMap(toTarEntries)));
    if (plain) return this.add(LAYER_TAR, tar);
    return this.add(LAYER_GZIP, await collect(compress('gzip', once(tar))));
  }

  /** An image named `name` with this config and layers (bottom first), registered for getImage. */
  image(name: string, config: ImageConfig, layers: Descriptor[]): SpecImage {
    const configDesc = this.add(
      CONFIG,
      Buffer.from(
        JSON.stringify({
          architecture: 'amd64',
          os: 'linux',
          config,
          rootfs: { type: 'layers', diff_ids: [] },
        }),
      ),
    );
    const image: SpecImage = {
      name,
      manifest: async () => ({ config: configDesc, layers }),
    };
    this.images.set(name, image);
    return image;
  }
}

function toTarEntries(e: LayerEntry): TarWriteEntry[] {
  switch (e.type) {
    case 'file': {
      const body = Buffer.from(e.content ?? '');
      return [
        { header: { name: e.path, type: 'file', mode: e.mode ?? 0o644, size: body.length }, body },
      ];
    }
    case 'dir':
      return [{ header: { name: `${e.path}/`, type: 'dir', mode: e.mode ?? 0o755 } }];
    case 'symlink':
    case 'hardlink':
      return [{ header: { name: e.path, type: e.type, linkname: e.target, mode: 0o777 } }];
    case 'whiteout': {
      const slash = e.path.lastIndexOf('/');
      const name = `${e.path.slice(0, slash + 1)}.wh.${e.path.slice(slash + 1)}`;
      return [{ header: { name, type: 'file', mode: 0o644, size: 0 }, body: Buffer.alloc(0) }];
    }
    case 'opaque':
      return [
        { header: { name: `${e.path}/`, type: 'dir', mode: e.mode ?? 0o755 } },
        {
          header: { name: `${e.path}/.wh..wh..opq`, type: 'file', mode: 0o644, size: 0 },
          body: Buffer.alloc(0),
        },
      ];
  }
}

async function* once(data: Buffer): AsyncGenerator<Buffer> {
  yield data;
}

async function collect(source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const chunk of source) parts.push(chunk);
  return Buffer.concat(parts);
}
