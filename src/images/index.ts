/**
 * @module images
 * Pull, push, import, export and unpack, written against core's contracts
 * (ImageStores, Resolver), so the same code runs in berthd over the local
 * stores and in the client over the gRPC proxies. containerd's `client.Pull`,
 * `remotes.PushContent`, `images/archive` and `pkg/unpack`.
 */
export { chainId, chainIds } from './chain.js';
export { type ExportOptions, exportArchive } from './export.js';
export { imageChainId, imageConfig, imageSize, rootFs } from './image.js';
export { type ImportOptions, type ImportReference, importArchive } from './import.js';
export { withLease } from './lease.js';
export type { ImageConfigJson, IndexJson, ManifestJson } from './manifest.js';
export {
  ANNOTATION_IMAGE_NAME,
  ANNOTATION_REF_NAME,
  childrenLabels,
  isConfig,
  isIndex,
  isLayer,
  isManifest,
  MT,
  refKey,
} from './media-types.js';
export { familiarName, normalizeName, ociReferenceName } from './names.js';
export { type PullOptions, pull, type UnpackTarget } from './pull.js';
export { type PushOptions, push } from './push.js';
export { isUnpacked, SNAPSHOT_REF_LABEL, type UnpackOptions, unpack } from './unpack.js';
