import { isNotFound, notFound } from '../../core/errdefs/index.js';
import type { OpContext } from '../../core/namespaces/index.js';
import type { ImageStores } from '../../core/transfer/index.js';
import {
  imageChainId,
  imageConfig,
  isUnpacked,
  normalizeName,
  unpack,
} from '../../images/index.js';
import type { ImageConfigLike } from './spec.js';

/** What a sandbox needs of its image. */
export interface SandboxImage {
  /** The reference the image is known by. */
  name: string;
  /** The image id (its config digest). */
  id: string;
  /** The chain ID of its top layer: the pause container's snapshot parent. */
  chainId: string;
  config: ImageConfigLike;
  labels: Record<string, string>;
}

/**
 * Finds the sandbox image, pulling it if missing (containerd's
 * ensureImageExists). cri-images' CriImages provides the pulling one; the
 * local one below serves images already in the k8s.io namespace.
 */
export interface SandboxImages {
  ensure(ctx: OpContext, ref: string): Promise<SandboxImage>;
}

/**
 * Serves images already in the image store (imported or pulled by other
 * means), unpacking one that is not yet unpacked into `snapshotter`. A
 * missing image is `not_found` naming the reference.
 */
export function localSandboxImages(stores: ImageStores, snapshotter: string): SandboxImages {
  return {
    async ensure(ctx, ref) {
      const name = normalizeName(ref);
      let image: Awaited<ReturnType<ImageStores['images']['get']>>;
      try {
        image = await stores.images.get(ctx, name);
      } catch (err) {
        if (isNotFound(err)) {
          throw notFound(
            `sandbox image ${JSON.stringify(ref)} is not in namespace ${ctx.namespace}`,
            {
              cause: err,
            },
          );
        }
        throw err;
      }
      if (!(await isUnpacked(ctx, stores, image, { snapshotter }))) {
        await unpack(ctx, stores, image, { snapshotter });
      }
      const { desc, config } = await imageConfig(ctx, stores, image);
      const chainId = await imageChainId(ctx, stores, image);
      const c =
        (config as { config?: ImageConfigLike & { Labels?: Record<string, string> } }).config ?? {};
      return { name, id: desc.digest, chainId, config: c, labels: c.Labels ?? {} };
    },
  };
}
