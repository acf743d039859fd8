import type { ContentStore, Descriptor, ReadOptions } from '../core/content/index.js';
import type { Image as ImageRecord } from '../core/images/index.js';
import type { Labels } from '../core/labels/index.js';
import type { OpContext } from '../core/namespaces/index.js';
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

/** The largest blob an Image keeps once read: indexes, manifests and configs are far smaller. */
const KEPT_BLOB_MAX = 256 << 10;

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
  /**
   * Small blobs (index, manifest, config) this object has read, by digest:
   * each question about an image reads them again otherwise (running a
   * container asks five or six), and a blob never changes under its digest.
   */
  private readonly kept = new Map<string, Buffer>();

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
      this.content(),
      this.record.target,
      only(parse(this.platform)),
      `${this.platform} of ${this.name}`,
    );
    return { config: sel.manifest.config, layers: sel.manifest.layers };
  }

  /**
   * One of the image's blobs (a {@link SpecImage}'s `readBlob`): the small
   * ones this object has read already come from memory.
   */
  readBlob(desc: Descriptor, opts: ImageCallOpts = {}): AsyncIterable<Uint8Array> {
    return this.content().read(this.ctx(opts), desc.digest);
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
    return { ...this.client.imageStores(), content: this.content() };
  }

  /** The content store, with whole reads of small blobs answered from {@link kept} once read. */
  private content(): ContentStore {
    const base = this.client.contentStore();
    const kept = this.kept;
    const store = Object.create(base) as ContentStore;
    store.read = async function* read(ctx: OpContext, digest: string, opts: ReadOptions = {}) {
      if (opts.offset || opts.size) {
        yield* base.read(ctx, digest, opts);
        return;
      }
      const have = kept.get(digest);
      if (have !== undefined) {
        yield have;
        return;
      }
      const parts: Buffer[] = [];
      let held = 0;
      for await (const chunk of base.read(ctx, digest)) {
        held += chunk.length;
        if (held <= KEPT_BLOB_MAX) parts.push(chunk);
        yield chunk;
      }
      if (held <= KEPT_BLOB_MAX) kept.set(digest, Buffer.concat(parts));
    };
    return store;
  }
}
