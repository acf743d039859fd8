/**
 * @module
 * Push: containerd's remotes.PushContent over core's contracts. Walk the
 * image from its target (indexes filtered to the platforms asked), then push
 * in containerd's order: every config and layer (at most
 * `maxConcurrentUploads` at once), then the manifests, then the indexes,
 * innermost first, so that a registry never sees a manifest before what it
 * references. A blob whose `containerd.io/distribution.source.<host>` label
 * names repositories on the target's host is offered for a cross-repository
 * mount from them. Non-distributable (foreign) layers are not pushed unless
 * allowed (ctr's default; containerd 1.7's Transfer push allows them).
 */
import type { Descriptor } from '../core/content/index.js';
import type { Image } from '../core/images/index.js';
import type { OpContext } from '../core/namespaces/index.js';
import { all, type MatchComparer, matcherFor } from '../core/platforms/index.js';
import type { Resolver } from '../core/remotes/index.js';
import type { ImageStores, ProgressFn } from '../core/transfer/index.js';
import { hasBlob } from './blobs.js';
import { Limiter, TaskGroup } from './concurrency.js';
import { children, filterManifests, plainDescriptor } from './manifest.js';
import { isIndex, isManifest, isNonDistributable, refKey } from './media-types.js';
import { splitName } from './names.js';
import { BlobProgress, type BlobReporter } from './progress.js';

export interface PushOptions {
  /** Push only these platforms' manifests (an index is pushed as it is). */
  platforms?: string[];
  /** Push every platform (the default when no platforms are given, as containerd's client). */
  allPlatforms?: boolean;
  onProgress?: ProgressFn;
  /** Blobs pushed at once; default 3. */
  maxConcurrentUploads?: number;
  /**
   * Push non-distributable (foreign) layers too, as ctr's
   * --allow-non-distributable-blobs and containerd 1.7's Transfer push do.
   */
  allowNonDistributable?: boolean;
}

interface Planned {
  blobs: { desc: Descriptor; parents: string[] }[];
  manifests: { desc: Descriptor; parents: string[] }[];
  /** In discovery order (outermost first). */
  indexes: { desc: Descriptor; parents: string[] }[];
}

async function plan(
  ctx: OpContext,
  stores: ImageStores,
  root: Descriptor,
  matcher: MatchComparer,
  skipMissingManifests: boolean,
  allowNonDistributable: boolean,
): Promise<Planned> {
  const out: Planned = { blobs: [], manifests: [], indexes: [] };
  const seen = new Set<string>();
  const visit = async (desc: Descriptor, parents: string[]): Promise<void> => {
    if (seen.has(desc.digest)) return;
    seen.add(desc.digest);
    const entry = { desc, parents };
    if (isIndex(desc.mediaType)) out.indexes.push(entry);
    else if (isManifest(desc.mediaType)) out.manifests.push(entry);
    else {
      if (allowNonDistributable || !isNonDistributable(desc.mediaType)) out.blobs.push(entry);
      return;
    }
    let kids = await children(ctx, stores.content, desc);
    if (isIndex(desc.mediaType)) {
      kids = filterManifests(kids, matcher);
      if (skipMissingManifests) {
        const present: typeof kids = [];
        for (const k of kids) {
          if (await hasBlob(ctx, stores.content, k.digest)) present.push(k);
          else
            ctx.log.warn(
              { digest: k.digest, platform: k.platform },
              'push: manifest not in the content store, skipped',
            );
        }
        kids = present;
      }
    }
    for (const k of kids) await visit(plainDescriptor(k), [refKey(desc)]);
  };
  await visit(root, []);
  return out;
}

/** Pushes `image` (a record or a descriptor in the content store) to `ref`. */
export async function push(
  ctx: OpContext,
  stores: ImageStores,
  resolver: Resolver,
  ref: string,
  image: Image | Descriptor,
  opts: PushOptions = {},
): Promise<void> {
  const root: Descriptor = 'target' in image ? image.target : image;
  const explicit = !opts.allPlatforms && (opts.platforms?.length ?? 0) > 0;
  const matcher = explicit ? matcherFor(opts.platforms) : all;
  // Without platforms asked, a partial local copy (one platform pulled) pushes what it has.
  const planned = await plan(
    ctx,
    stores,
    root,
    matcher,
    !opts.allPlatforms,
    opts.allowNonDistributable === true,
  );
  const pusher = await resolver.pusher(ref);
  const target = splitName(ref);
  const sourceKey = `containerd.io/distribution.source.${target.hostname}`;
  const progress = new BlobProgress(opts.onProgress, 'uploading');
  const limiter = new Limiter(opts.maxConcurrentUploads ?? 3);
  progress.event('pushing content', ref, 0, 0, root);

  const pushOne = async (gctx: OpContext, desc: Descriptor, reporter: BlobReporter) => {
    // not_found here names the missing blob: the image is not complete locally.
    const info = await stores.content.info(gctx, desc.digest);
    const value = info.labels[sourceKey];
    const mountFrom = value ? value.split(',').filter((r) => r !== '' && r !== target.path) : [];
    const data = () => counted(stores.content.read(gctx, desc.digest), (n) => reporter.bytes(n));
    const pushed = await pusher.push(desc, data, {
      signal: gctx.signal,
      ...(mountFrom.length > 0 && { mountFrom }),
    });
    reporter.done(!pushed);
  };

  const phase = async (entries: { desc: Descriptor; parents: string[] }[]) => {
    const group = new TaskGroup(ctx.signal);
    const gctx: OpContext = { ...ctx, signal: group.signal };
    for (const { desc, parents } of entries) {
      const reporter = progress.blob(desc, parents.length > 0 ? parents : [ref]);
      group.go(() => limiter.run(group.signal, () => pushOne(gctx, desc, reporter)));
    }
    await group.wait();
  };
  await phase(planned.blobs);
  await phase(planned.manifests);
  for (const idx of [...planned.indexes].reverse()) await phase([idx]);
  progress.event('pushed content', ref, 0, 0, root);
}

async function* counted(
  source: AsyncIterable<Buffer>,
  onBytes: (n: number) => void,
): AsyncGenerator<Buffer, void, undefined> {
  let n = 0;
  for await (const chunk of source) {
    n += chunk.length;
    onBytes(n);
    yield chunk;
  }
}
