/**
 * @module
 * runtime.v1.ImageService over {@link CriImages}, answering as containerd
 * 1.6's CRI plugin does: ImageStatus and RemoveImage of a missing image
 * succeed (no image, nothing removed); PullImage answers the image ID;
 * ImageFsInfo is the usage of the snapshotter's snapshots.
 */
import type {
  Image,
  ImageFsInfoResponse,
  ImageStatusRequest,
  ImageStatusResponse,
  ListImagesRequest,
  ListImagesResponse,
  PullImageRequest,
  PullImageResponse,
  RemoveImageRequest,
} from '../../api/k8s/cri/runtime/v1/api.js';
import { invalidArgument } from '../../core/errdefs/index.js';
import type { OpContext } from '../../core/namespaces/index.js';
import { parseReference, referenceName } from '../../core/reference/index.js';
import { type Handler, unary } from '../../server/service.js';
import type { SnapshotUsageStore } from '../stats/snapshot-usage.js';
import type { CriImage, CriImages } from './cri-images.js';
import { splitReferences, userFromImage } from './refs.js';

/** An image as the CRI shows it (containerd's toCRIImage). */
export function toCriImage(img: CriImage): Image {
  const { repoTags, repoDigests } = splitReferences(img.references);
  const user = userFromImage(
    (img.config.config as { User?: unknown } | undefined)?.User as string | undefined,
  );
  return {
    id: img.id,
    repoTags,
    repoDigests,
    size: BigInt(img.size),
    ...(user.uid !== undefined && { uid: { value: user.uid } }),
    username: user.username,
    pinned: img.pinned,
  };
}

/** `ImageStatus(verbose)`'s info: the chain ID and the OCI image config (containerd's verboseImageInfo). */
export function verboseImageInfo(img: CriImage): Record<string, string> {
  return { info: JSON.stringify({ chainID: img.chainId, imageSpec: img.config }) };
}

export interface ImageFsOptions {
  /** The snapshots' usage (the configured snapshotter, in the CRI namespace). */
  usage: SnapshotUsageStore;
  /** The snapshotter's root directory (`<root>/io.containerd.snapshotter.v1.<name>`). */
  mountpoint: string;
}

export async function imageFsInfo(fs: ImageFsOptions): Promise<ImageFsInfoResponse> {
  const t = await fs.usage.total();
  return {
    imageFilesystems: [
      {
        timestamp: t.timestamp,
        fsId: { mountpoint: fs.mountpoint },
        usedBytes: { value: BigInt(t.size) },
        inodesUsed: { value: BigInt(t.inodes) },
      },
    ],
  };
}

function imageRef(req: { image?: { image: string } | undefined }, what: string): string {
  const ref = req.image?.image ?? '';
  if (ref === '') throw invalidArgument(`${what}: no image given`);
  return ref;
}

async function status(
  images: CriImages,
  ctx: OpContext,
  req: ImageStatusRequest,
): Promise<ImageStatusResponse> {
  const img = await images.find(ctx, req.image?.image ?? '');
  if (img === undefined) return { info: {} };
  return { image: toCriImage(img), info: req.verbose ? verboseImageInfo(img) : {} };
}

/**
 * The repository (`domain/path`) a name without tag or digest names; with
 * `anyRef`, the repository of any reference. Undefined otherwise.
 */
function repositoryOf(ref: string, anyRef = false): string | undefined {
  try {
    const r = parseReference(ref);
    if (!anyRef && (r.tag !== undefined || r.digest !== undefined)) return undefined;
    return referenceName(r);
  } catch {
    return undefined;
  }
}

async function list(
  images: CriImages,
  ctx: OpContext,
  req: ListImagesRequest,
): Promise<ListImagesResponse> {
  // containerd ignores the filter and lists everything; berth reads it as
  // `docker images` does: a repository alone lists its images (any tag or
  // digest), anything else names one image as ImageStatus resolves it.
  const filter = req.filter?.image?.image ?? '';
  if (filter !== '') {
    const repo = repositoryOf(filter);
    if (repo !== undefined) {
      const all = await images.list(ctx);
      return {
        images: all
          .filter((img) => img.references.some((r) => repositoryOf(r, true) === repo))
          .map(toCriImage),
      };
    }
    const img = await images.find(ctx, filter);
    return { images: img === undefined ? [] : [toCriImage(img)] };
  }
  return { images: (await images.list(ctx)).map(toCriImage) };
}

/** Every ImageService method, keyed by its proto name. */
export function imageServiceHandlers(
  images: CriImages,
  fs: ImageFsOptions,
): Record<string, Handler> {
  return {
    ListImages: unary((ctx, req: ListImagesRequest) => list(images, ctx, req)),
    ImageStatus: unary((ctx, req: ImageStatusRequest) => status(images, ctx, req)),
    PullImage: unary(
      async (ctx, req: PullImageRequest): Promise<PullImageResponse> => ({
        imageRef: await images.pull(ctx, imageRef(req, 'PullImage'), req.auth),
      }),
    ),
    RemoveImage: unary(async (ctx, req: RemoveImageRequest) => {
      await images.remove(ctx, imageRef(req, 'RemoveImage'));
      return {};
    }),
    ImageFsInfo: unary(() => imageFsInfo(fs)),
  };
}
