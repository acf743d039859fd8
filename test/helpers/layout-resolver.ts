/**
 * A Resolver over an OCI image layout directory (`index.json`,
 * `blobs/sha256/<hex>`), for tests and benchmarks of the image operations
 * without a registry: a reference `<anything>:<tag>` resolves to the
 * index.json entry whose `org.opencontainers.image.ref.name` is the tag.
 * Blobs stream from their files (1 MiB reads), size and digest verified.
 */
import { createHash } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Descriptor } from '../../src/core/content/index.js';
import { failedPrecondition, notFound, notImplemented } from '../../src/core/errdefs/index.js';
import type { Fetcher, FetchOptions, Resolver } from '../../src/core/remotes/index.js';

export function layoutResolver(layout: string): Resolver {
  const blobPath = (digest: string) => join(layout, 'blobs', ...digest.split(':'));
  async function* fetch(desc: Descriptor, opts: FetchOptions = {}): AsyncGenerator<Buffer> {
    const offset = opts.offset ?? 0;
    const hash = createHash('sha256');
    let n = offset;
    const stream = createReadStream(blobPath(desc.digest), {
      start: offset,
      highWaterMark: 1 << 20,
      ...(opts.signal && { signal: opts.signal }),
    });
    try {
      for await (const chunk of stream) {
        const b = chunk as Buffer;
        if (offset === 0) hash.update(b);
        n += b.length;
        yield b;
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw notFound(`layout ${layout}: blob ${desc.digest}: not found`);
      }
      throw err;
    }
    if (n !== desc.size)
      throw failedPrecondition(`layout: blob ${desc.digest}: ${n} bytes, want ${desc.size}`);
    if (offset === 0 && `sha256:${hash.digest('hex')}` !== desc.digest) {
      throw failedPrecondition(`layout: blob ${desc.digest}: digest mismatch`);
    }
  }
  const fetcher: Fetcher = { fetch };
  return {
    async resolve(ref) {
      const tag = ref.slice(ref.lastIndexOf(':') + 1);
      const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as {
        manifests: Descriptor[];
      };
      const m = index.manifests.find(
        (d) => d.annotations?.['org.opencontainers.image.ref.name'] === tag,
      );
      if (!m) throw notFound(`layout ${layout}: no image tagged ${JSON.stringify(tag)}`);
      return { name: ref, desc: { mediaType: m.mediaType, digest: m.digest, size: m.size } };
    },
    fetcher: async () => fetcher,
    pusher: async () => {
      throw notImplemented('layout resolver: push');
    },
  };
}
