import type { Descriptor } from '../core/content/index.js';
import type { Image } from '../core/images/index.js';
import type { Logger } from '../core/log/index.js';
import type { OpContext } from '../core/namespaces/index.js';
import type { Resolver } from '../core/remotes/index.js';
import type { ImageStores, ProgressFn } from '../core/transfer/index.js';
import type { CredentialsFn } from './credentials.js';

/**
 * What the local transfer runs: the registry client of `src/remotes` and
 * the image operations of `src/images` (the seams of docs/IMAGES-API), the
 * parts of their options the transfer sets. They are loaded on the first
 * transfer, not at start: berthd's idle memory does not pay for a registry
 * client it may never use.
 */
export interface ImageOps {
  newResolver(opts: {
    hostsDir?: string;
    credentials?: CredentialsFn;
    dockerConfig?: string | false;
    headers?: Record<string, string>;
    plainHttp?: boolean;
    log?: Logger;
  }): Resolver;
  pull(
    ctx: OpContext,
    stores: ImageStores,
    resolver: Resolver,
    ref: string,
    opts?: {
      platforms?: string[];
      allPlatforms?: boolean;
      allMetadata?: boolean;
      manifestLimit?: number;
      unpack?: { snapshotter: string; platform?: string }[];
      name?: string;
      labels?: Record<string, string>;
      maxConcurrentDownloads?: number;
      onProgress?: ProgressFn;
    },
  ): Promise<Image>;
  push(
    ctx: OpContext,
    stores: ImageStores,
    resolver: Resolver,
    ref: string,
    image: Image | Descriptor,
    opts?: {
      platforms?: string[];
      allPlatforms?: boolean;
      onProgress?: ProgressFn;
      maxConcurrentUploads?: number;
      allowNonDistributable?: boolean;
    },
  ): Promise<void>;
  importArchive(
    ctx: OpContext,
    stores: ImageStores,
    input: AsyncIterable<Buffer>,
    opts?: {
      baseName?: string;
      indexName?: string;
      allPlatforms?: boolean;
      platforms?: string[];
      unpack?: { snapshotter: string; platform?: string }[];
      labels?: Record<string, string>;
      onProgress?: ProgressFn;
      digests?: boolean;
      /** containerd's transfer image store prefix references (see src/images ImportReference). */
      references?: {
        name: string;
        allowOverwrite?: boolean;
        addDigest?: boolean;
        skipNamedDigest?: boolean;
      }[];
      forceCompress?: boolean;
    },
  ): Promise<Image[]>;
  exportArchive(
    ctx: OpContext,
    stores: ImageStores,
    output: NodeJS.WritableStream,
    images: (Image | { name: string; target: Descriptor })[],
    opts?: {
      platforms?: string[];
      allPlatforms?: boolean;
      skipDockerManifest?: boolean;
      skipNonDistributable?: boolean;
      onProgress?: ProgressFn;
    },
  ): Promise<void>;
}
