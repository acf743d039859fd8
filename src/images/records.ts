/**
 * @module
 * Image records the operations leave, as containerd's client writes them:
 * a pull creates or replaces (createNewImage), an import creates or moves
 * the target of an existing name (Import's `Update(…, "target")`).
 */
import { isAlreadyExists, isNotFound } from '../core/errdefs/index.js';
import type { Image } from '../core/images/index.js';
import type { OpContext } from '../core/namespaces/index.js';
import type { ImageStores } from '../core/transfer/index.js';

type NewImage = Omit<Image, 'createdAt' | 'updatedAt'>;

/** Creates the image record, or replaces it when the name exists (containerd's createNewImage). */
export async function putImage(
  ctx: OpContext,
  stores: ImageStores,
  image: NewImage,
): Promise<Image> {
  for (;;) {
    try {
      return await stores.images.create(ctx, image);
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
    try {
      return await stores.images.update(ctx, image);
    } catch (err) {
      // Deleted meanwhile: create it again.
      if (!isNotFound(err)) throw err;
    }
  }
}

/**
 * Moves an existing record's target (and sets the labels given, if any),
 * or creates the record (containerd's Import).
 */
export async function putImageTarget(
  ctx: OpContext,
  stores: ImageStores,
  image: NewImage,
): Promise<Image> {
  const paths = ['target', ...Object.keys(image.labels).map((k) => `labels.${k}`)];
  for (;;) {
    try {
      return await stores.images.update(ctx, image, paths);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    try {
      return await stores.images.create(ctx, image);
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
  }
}
