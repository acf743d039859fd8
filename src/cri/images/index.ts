/**
 * @module cri/images
 * The CRI plugin's images: pulls with the request's credentials and
 * hosts.toml mirrors, the records containerd's CRI writes (tag, repo digest,
 * ID), lookup by name, digest or ID prefix, removal, and the ImageService
 * handlers over them.
 */
export { parseAuth, pullCredentials } from './auth.js';
export {
  CRI_NAMESPACE,
  type CriImage,
  type CriImageOps,
  CriImages,
  type CriImagesOptions,
  loadCriImageOps,
} from './cri-images.js';
export {
  IMAGE_LABEL_KEY,
  IMAGE_LABEL_VALUE,
  isDigest,
  lookupId,
  normalizePullRef,
  PINNED_LABEL_KEY,
  PINNED_LABEL_VALUE,
  repoDigestAndTag,
  sortReferences,
  splitReferences,
  userFromImage,
} from './refs.js';
export {
  type ImageFsOptions,
  imageFsInfo,
  imageServiceHandlers,
  toCriImage,
  verboseImageInfo,
} from './service.js';
