/**
 * @module
 * Questions about an image in the content store, as the Go client's Image
 * answers them: its config for a platform (`image.Config`), its size
 * (`images.Image.Size`: the target and every blob under it the platform
 * keeps, each counted once), and its rootfs diffIDs / chain ID.
 */
import type { Descriptor } from '../core/content/index.js';
import type { Image } from '../core/images/index.js';
import type { OpContext } from '../core/namespaces/index.js';
import { defaultSpec, format, only, parse } from '../core/platforms/index.js';
import type { ImageStores } from '../core/transfer/index.js';
import { chainId } from './chain.js';
import {
  children,
  filterManifests,
  type ImageConfigJson,
  manifestFor,
  readConfig,
} from './manifest.js';
import { isIndex } from './media-types.js';

type ImageRef = Pick<Image, 'name' | 'target'>;

function matcherOf(platform: string | undefined) {
  const plat = platform ? parse(platform) : defaultSpec();
  return {
    matcher: only(plat),
    what: platform ? format(plat) : `the host platform (${format(plat)})`,
  };
}

/** The config of `image` for `platform` (default the host's). */
export async function imageConfig(
  ctx: OpContext,
  stores: Pick<ImageStores, 'content'>,
  image: ImageRef,
  platform?: string,
): Promise<{ desc: Descriptor; config: ImageConfigJson }> {
  const { matcher, what } = matcherOf(platform);
  const sel = await manifestFor(
    ctx,
    stores.content,
    image.target,
    matcher,
    `${what} of ${image.name}`,
  );
  const desc = sel.manifest.config;
  return { desc, config: await readConfig(ctx, stores.content, desc) };
}

/** The diffIDs of `image`'s layers for `platform` (the Go client's image.RootFS). */
export async function rootFs(
  ctx: OpContext,
  stores: Pick<ImageStores, 'content'>,
  image: ImageRef,
  platform?: string,
): Promise<string[]> {
  return (await imageConfig(ctx, stores, image, platform)).config.rootfs.diff_ids;
}

/** The chain ID of `image`'s top layer for `platform` (the snapshot an unpack leaves). */
export async function imageChainId(
  ctx: OpContext,
  stores: Pick<ImageStores, 'content'>,
  image: ImageRef,
  platform?: string,
): Promise<string> {
  return chainId(await rootFs(ctx, stores, image, platform));
}

/**
 * The Go client's image.Size (`usage.CalculateImageUsage` with one manifest
 * per index for the platform, sizes from the manifests): the target plus
 * every blob reached from it, each counted once. Configs and layers need not
 * be present: their sizes come from the descriptors.
 */
export async function imageSize(
  ctx: OpContext,
  stores: Pick<ImageStores, 'content'>,
  image: ImageRef,
  platform?: string,
): Promise<number> {
  const { matcher } = matcherOf(platform);
  const seen = new Set<string>();
  let size = 0;
  const walk = async (desc: Descriptor): Promise<void> => {
    if (seen.has(desc.digest)) return;
    seen.add(desc.digest);
    size += desc.size;
    let kids = await children(ctx, stores.content, desc);
    if (isIndex(desc.mediaType)) kids = filterManifests(kids, matcher, 1);
    for (const k of kids) await walk(k);
  };
  await walk(image.target);
  return size;
}
