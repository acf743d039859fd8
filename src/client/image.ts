import type { Descriptor } from '../core/content/index.js';
import type { Image as ImageRecord } from '../core/images/index.js';
import type { Labels } from '../core/labels/index.js';
import { defaultSpec, format, only, parse } from '../core/platforms/index.js';
import type { ProgressFn } from '../core/transfer/index.js';
import {
  type ImageConfigJson,
  imageConfig,
  imageSize,
  isUnpacked,
  rootFs,
  unpack,
} from '../images/index.js';
import { manifestFor } from '../images/manifest.js';
import type { Client } from './client.js';
import { DEFAULT_SNAPSHOTTER } from './container-opts.js';

export type { ImageConfigJson };

/** Per-call options of an image's questions. */
export interface ImageCallOpts {
  signal?: AbortSignal;
}

/**
 * An image in the daemon (containerd's `Image`): a name pointing at the
 * descriptor of an index or manifest in the content store, and the
 * questions the Go client answers about it, for one platform (the one it
 * was pulled for, default the host's).
 */
export class Image {
  constructor(
    protected readonly client: Client,
    /** The record as it was when this object was made. */
    readonly record: ImageRecord,
    /** The platform questions are answered for (`linux/amd64`); default the host's. */
    readonly platform: string = format(defaultSpec()),
  ) {}

  get name(): string {
    return this.record.name;
  }

  get target(): Descriptor {
    return this.record.target;
  }

  get labels(): Labels {
    return this.record.labels;
  }

  /** Bytes of the image's blobs for the platform, each counted once (containerd's `Size`). */
  size(opts: ImageCallOpts = {}): Promise<number> {
    return imageSize(this.ctx(opts), this.stores(), this.record, this.platform);
  }

  /** The descriptor of the image's config for the platform (containerd's `Config`). */
  async config(opts: ImageCallOpts = {}): Promise<Descriptor> {
    return (await imageConfig(this.ctx(opts), this.stores(), this.record, this.platform)).desc;
  }

  /** The image's config document (containerd's `Spec`): entrypoint, env, user, rootfs. */
  async spec(opts: ImageCallOpts = {}): Promise<ImageConfigJson> {
    return (await imageConfig(this.ctx(opts), this.stores(), this.record, this.platform)).config;
  }

  /** The diffIDs of the image's layers, bottom first (containerd's `RootFS`). */
  rootFS(opts: ImageCallOpts = {}): Promise<string[]> {
    return rootFs(this.ctx(opts), this.stores(), this.record, this.platform);
  }

  /**
   * The platform's manifest: config and layer descriptors, bottom layer
   * first. What the spec options read layers through (`oci.withImageConfig`
   * resolves user names from them without mounting anything).
   */
  async manifest(opts: ImageCallOpts = {}): Promise<{ config: Descriptor; layers: Descriptor[] }> {
    const sel = await manifestFor(
      this.ctx(opts),
      this.client.contentStore(),
      this.record.target,
      only(parse(this.platform)),
      `${this.platform} of ${this.name}`,
    );
    return { config: sel.manifest.config, layers: sel.manifest.layers };
  }

  /** Whether the image's layers are unpacked in the snapshotter (default overlayfs). */
  isUnpacked(snapshotter = DEFAULT_SNAPSHOTTER, opts: ImageCallOpts = {}): Promise<boolean> {
    return isUnpacked(this.ctx(opts), this.stores(), this.record, {
      snapshotter,
      platform: this.platform,
    });
  }

  /** Unpacks the image's layers into the snapshotter (default overlayfs). */
  unpack(
    snapshotter = DEFAULT_SNAPSHOTTER,
    opts: ImageCallOpts & { onProgress?: ProgressFn } = {},
  ): Promise<void> {
    return unpack(this.ctx(opts), this.stores(), this.record, {
      snapshotter,
      platform: this.platform,
      ...(opts.onProgress && { onProgress: opts.onProgress }),
    });
  }

  private ctx(opts: ImageCallOpts) {
    return this.client.context(opts.signal);
  }

  private stores() {
    return this.client.imageStores();
  }
}
