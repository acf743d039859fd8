/**
 * @module
 * Test doubles for the spec options: layers built with berth's own tar
 * writer, an in-memory content store behind a {@link SpecClient}, and
 * images made of them.
 */
import { createHash } from 'node:crypto';
import { compress, type TarWriteEntry, writeTar } from '../../../archive/index.js';
import type { Descriptor } from '../../../core/content/index.js';
import { notFound } from '../../../core/errdefs/index.js';
import type { ImageConfig, SpecClient, SpecImage } from '../types.js';

/** One entry of a test layer. */
export type LayerEntry =
  | { file: string; content: string; mode?: number }
  | { dir: string }
  | { symlink: string; target: string }
  | { hardlink: string; target: string }
  /** `.wh.<name>` next to `path`'s name. */
  | { whiteout: string }
  /** `<dir>/.wh..wh..opq`. */
  | { opaque: string };

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

  client(namespace = 'default', signal?: AbortSignal): SpecClient {
    const blobs = this.blobs;
    const reads = this.reads;
    const images = this.images;
    return {
      namespace,
      ...(signal ? { signal } : {}),
      async *readBlob(desc) {
        const data = blobs.get(desc.digest);
        if (!data) throw notFound(`content digest ${desc.digest}`);
        reads.push(desc.digest);
        // in small chunks, so readers meet chunk boundaries
        for (let i = 0; i < data.length; i += 1000) yield data.subarray(i, i + 1000);
      },
      async getImage(name) {
        const image = images.get(name);
        if (!image) throw notFound(`image "${name}"`);
        return image;
      },
    };
  }

  /** A layer blob of `entries`, gzip-compressed unless `plain`. */
  async layer(entries: LayerEntry[], plain = false): Promise<Descriptor> {
    const tar = await collect(writeTar(entries.map(toTarEntry)));
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

function toTarEntry(e: LayerEntry): TarWriteEntry {
  if ('file' in e) {
    const body = Buffer.from(e.content);
    return {
      header: { name: e.file, type: 'file', mode: e.mode ?? 0o644, size: body.length },
      body,
    };
  }
  if ('dir' in e) return { header: { name: `${e.dir}/`, type: 'dir', mode: 0o755 } };
  if ('symlink' in e) {
    return { header: { name: e.symlink, type: 'symlink', linkname: e.target, mode: 0o777 } };
  }
  if ('hardlink' in e) {
    return { header: { name: e.hardlink, type: 'hardlink', linkname: e.target, mode: 0o644 } };
  }
  if ('whiteout' in e) {
    const slash = e.whiteout.lastIndexOf('/');
    const name = `${e.whiteout.slice(0, slash + 1)}.wh.${e.whiteout.slice(slash + 1)}`;
    return { header: { name, type: 'file', mode: 0o644, size: 0 }, body: Buffer.alloc(0) };
  }
  return {
    header: { name: `${e.opaque}/.wh..wh..opq`, type: 'file', mode: 0o644, size: 0 },
    body: Buffer.alloc(0),
  };
}

async function* once(data: Buffer): AsyncGenerator<Buffer> {
  yield data;
}

async function collect(source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const chunk of source) parts.push(chunk);
  return Buffer.concat(parts);
}
