import type { ImageOps } from './ops.js';

/**
 * Loads the registry client and the image operations: called on the first
 * transfer, so berthd starts without them.
 */
export async function loadImageOps(): Promise<ImageOps> {
  const [images, remotes] = await Promise.all([
    import('../images/index.js'),
    import('../remotes/index.js'),
  ]);
  return {
    newResolver: remotes.newResolver,
    pull: images.pull,
    push: images.push,
    importArchive: images.importArchive,
    exportArchive: images.exportArchive,
  };
}
