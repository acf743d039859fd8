import type { OpContext } from '../../core/namespaces/index.js';
import type { ImageConfig } from '../opts/index.js';

/** What a sandbox needs of its image. */
export interface SandboxImage {
  /** The reference the image is known by. */
  name: string;
  /** The image id (its config digest). */
  id: string;
  /** The chain ID of its top layer: the pause container's snapshot parent. */
  chainId: string;
  config: ImageConfig;
  labels: Record<string, string>;
}

/**
 * Finds the sandbox image, pulling it if missing (containerd's
 * ensureImageExists); the plugin adapts cri-images' CriImages.
 */
export interface SandboxImages {
  ensure(ctx: OpContext, ref: string): Promise<SandboxImage>;
}
