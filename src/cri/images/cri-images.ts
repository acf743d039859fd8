/**
 * @module
 * The CRI plugin's images, over berthd's own stores in the `k8s.io`
 * namespace, as containerd 1.6's CRI plugin keeps them:
 *
 * - A pull (the daemon-side pull of src/images with src/remotes' registry
 *   client, hosts.toml from `registry.config_path`, the host's platform,
 *   unpacked into the configured snapshotter) records the image under up to
 *   three names, each labelled `io.cri-containerd.image=managed`: the tag
 *   reference, the repo digest `<repository>@<manifest digest>`, and the
 *   image ID `sha256:<config digest>`. Concurrent pulls of one reference
 *   with the same credentials share one pull.
 * - An image is every record of the namespace whose target resolves, for
 *   the host's platform, to the same config: its ID. Records made by others
 *   (`ctr -n k8s.io images import`) count as well. The image store is the
 *   source of truth on every call (containerd keeps an in-memory copy fed by
 *   events); what is derived from content (config, chain ID, size) is
 *   cached by target digest, as content does not change.
 * - A reference resolves as containerd's localResolve does: a whole digest
 *   is an ID; else the normalized name's record; else an ID prefix.
 */
import type { AuthConfig } from '../../api/k8s/cri/runtime/v1/api.js';
import type { Descriptor } from '../../core/content/index.js';
import { isAlreadyExists, isNotFound, notFound } from '../../core/errdefs/index.js';
import type { Publisher } from '../../core/events/index.js';
import type { GcScheduler } from '../../core/gc/index.js';
import type { Image as ImageRecord } from '../../core/images/index.js';
import type { Labels } from '../../core/labels/index.js';
import type { Logger } from '../../core/log/index.js';
import type { OpContext } from '../../core/namespaces/index.js';
import type { ImageStores } from '../../core/transfer/index.js';
import type * as Images from '../../images/index.js';
import type { ImageConfigJson } from '../../images/index.js';
import type * as Remotes from '../../remotes/index.js';
import type { CredentialsFn } from '../../remotes/index.js';
import type { RegistryAuth } from '../config.js';
import { pullCredentials } from './auth.js';
import { publishingImageStore } from './events.js';
import {
  IMAGE_LABEL_KEY,
  IMAGE_LABEL_VALUE,
  isDigest,
  lookupId,
  normalizePullRef,
  PINNED_LABEL_KEY,
  PINNED_LABEL_VALUE,
  repoDigestAndTag,
  sortReferences,
} from './refs.js';

/** How long a record that gives no image here is not looked at again. */
const FAILURE_TTL_MS = 10_000;

/** The namespace containerd's CRI plugin keeps everything in. */
export const CRI_NAMESPACE = 'k8s.io';

/** One image as the CRI sees it: every record with the same config. */
export interface CriImage {
  /** `sha256:<config digest>`. */
  id: string;
  /** The record names, most informative first (tags, repo digests, the ID). */
  references: string[];
  /** The target of the first reference (index or manifest). */
  target: Descriptor;
  /** The config blob's descriptor. */
  configDescriptor: Descriptor;
  /** The OCI image config (JSON document). */
  config: ImageConfigJson;
  /** Chain ID of the top layer: the snapshot a container's rootfs is prepared from. */
  chainId: string;
  /** The target and every blob under it for the host's platform, compressed, each once. */
  size: number;
  /** The sandbox image (or an image a record marks pinned). */
  pinned: boolean;
}

/** What the image operations come from (src/images and src/remotes, loaded on first use). */
export interface CriImageOps {
  pull: typeof Images.pull;
  imageConfig: typeof Images.imageConfig;
  imageSize: typeof Images.imageSize;
  chainId: typeof Images.chainId;
  newResolver: typeof Remotes.newResolver;
}

/** The real operations, imported on first use (berthd starts without the registry client). */
export async function loadCriImageOps(): Promise<CriImageOps> {
  const [images, remotes] = await Promise.all([
    import('../../images/index.js'),
    import('../../remotes/index.js'),
  ]);
  return {
    pull: images.pull,
    imageConfig: images.imageConfig,
    imageSize: images.imageSize,
    chainId: images.chainId,
    newResolver: remotes.newResolver,
  };
}

export interface CriImagesOptions {
  /** berthd's stores (namespaced by the context: this class uses `k8s.io`). */
  stores: ImageStores;
  /** A collection runs when an image's last record goes (containerd's synchronous delete). */
  gc: GcScheduler;
  /** The snapshotter images are unpacked into (`containerd.snapshotter`). */
  snapshotter: string;
  /** `sandbox_image`: its records are pinned. */
  sandboxImage: string;
  registry: {
    /** hosts.toml directory; "" = defaults only. */
    configPath: string;
    auths: Readonly<Record<string, RegistryAuth>>;
    headers: Readonly<Record<string, string>>;
  };
  maxConcurrentDownloads: number;
  /** Where record changes are announced (`/images/*` events), as containerd's image service does. */
  publisher?: Publisher;
  log: Logger;
  /** Tests: other image operations. */
  ops?: () => Promise<CriImageOps>;
}

type Derived = Pick<CriImage, 'id' | 'configDescriptor' | 'config' | 'chainId' | 'size'>;

/** A pull in progress, shared by the callers asking for the same reference and credentials. */
interface SharedPull {
  result: Promise<string>;
  controller: AbortController;
  waiters: number;
}

export class CriImages {
  private readonly derived = new Map<string, Promise<Derived>>();
  private readonly failed = new Map<string, { at: number; err: unknown }>();
  private readonly pulls = new Map<string, SharedPull>();
  private opsPromise: Promise<CriImageOps> | undefined;
  private readonly sandboxRef: string | undefined;
  private readonly stores: ImageStores;

  constructor(private readonly opts: CriImagesOptions) {
    this.stores =
      opts.publisher === undefined
        ? opts.stores
        : { ...opts.stores, images: publishingImageStore(opts.stores.images, opts.publisher) };
    try {
      this.sandboxRef = normalizePullRef(opts.sandboxImage);
    } catch (err) {
      opts.log.error({ err, image: opts.sandboxImage }, 'sandbox_image is not a reference');
    }
  }

  /** The operations' context: the caller's signal and logger, berth's CRI namespace. */
  private ns(ctx: OpContext): OpContext {
    return { signal: ctx.signal, log: ctx.log, namespace: CRI_NAMESPACE };
  }

  private ops(): Promise<CriImageOps> {
    if (this.opsPromise === undefined) {
      this.opsPromise = (this.opts.ops ?? loadCriImageOps)();
      this.opsPromise.catch(() => {
        this.opsPromise = undefined;
      });
    }
    return this.opsPromise;
  }

  /**
   * Config, chain ID and size of a target for the host's platform, cached:
   * content does not change. A failure (content missing, no manifest for
   * this platform) is remembered for {@link FAILURE_TTL_MS}, so a record
   * that is no image here does not cost a content read on every call;
   * `fresh` asks again at once (after a pull of that target).
   */
  private derive(ctx: OpContext, record: ImageRecord, fresh = false): Promise<Derived> {
    const key = record.target.digest;
    const failedAt = this.failed.get(key);
    if (failedAt !== undefined && !fresh && Date.now() - failedAt.at < FAILURE_TTL_MS) {
      return Promise.reject(failedAt.err);
    }
    let p = this.derived.get(key);
    if (p === undefined) {
      p = (async () => {
        const ops = await this.ops();
        const { stores } = this;
        const { desc, config } = await ops.imageConfig(ctx, stores, record);
        return {
          id: desc.digest,
          configDescriptor: desc,
          config,
          chainId: ops.chainId(config.rootfs.diff_ids),
          size: await ops.imageSize(ctx, stores, record),
        };
      })();
      this.derived.set(key, p);
      this.failed.delete(key);
      p.catch((err: unknown) => {
        this.derived.delete(key);
        // A cancelled call says nothing about the image.
        if (!ctx.signal.aborted) this.failed.set(key, { at: Date.now(), err });
      });
    }
    return p;
  }

  /**
   * Every image of the namespace, by ID, and which ID each record name
   * has. Records whose content does not give a config for this platform are
   * left out.
   */
  private async index(ctx: OpContext): Promise<{
    byId: Map<string, CriImage>;
    byName: Map<string, string>;
  }> {
    const nctx = this.ns(ctx);
    const records = await this.stores.images.list(nctx);
    const byId = new Map<string, CriImage>();
    const byName = new Map<string, string>();
    const live = new Set<string>();
    for (const rec of records) {
      live.add(rec.target.digest);
      let d: Derived;
      try {
        d = await this.derive(nctx, rec);
      } catch (err) {
        ctx.log.debug({ err, image: rec.name }, 'image record without a usable config: left out');
        continue;
      }
      byName.set(rec.name, d.id);
      const pinned = rec.labels[PINNED_LABEL_KEY] === PINNED_LABEL_VALUE;
      const have = byId.get(d.id);
      if (have === undefined) {
        byId.set(d.id, { ...d, references: [rec.name], target: rec.target, pinned });
      } else {
        have.references.push(rec.name);
        have.pinned ||= pinned;
      }
    }
    for (const img of byId.values()) {
      img.references = sortReferences(img.references);
    }
    // Targets no record names any more are forgotten.
    for (const cache of [this.derived, this.failed]) {
      for (const key of cache.keys()) if (!live.has(key)) cache.delete(key);
    }
    return { byId, byName };
  }

  /** The image `ref` names (ID, ID prefix, or a name, normalized); `not_found` when none. */
  async resolve(ctx: OpContext, ref: string): Promise<CriImage> {
    const { byId, byName } = await this.index(ctx);
    const found = (id: string | undefined) => (id === undefined ? undefined : byId.get(id));
    let img = isDigest(ref) ? found(ref) : undefined;
    if (img === undefined && !isDigest(ref)) {
      let name: string | undefined;
      try {
        name = normalizePullRef(ref);
      } catch {
        name = undefined;
      }
      if (name !== undefined) img = found(byName.get(name));
    }
    img ??= found(lookupId(byId.keys(), ref));
    if (img === undefined) throw notFound(`image ${JSON.stringify(ref)}`);
    return img;
  }

  /** Like {@link resolve}, undefined when there is no such image. */
  async find(ctx: OpContext, ref: string): Promise<CriImage | undefined> {
    try {
      return await this.resolve(ctx, ref);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async list(ctx: OpContext): Promise<CriImage[]> {
    return [...(await this.index(ctx)).byId.values()];
  }

  /**
   * Pulls `ref` and records it (tag, repo digest, ID); answers the image
   * ID. `auth` is the request's AuthConfig.
   */
  async pull(ctx: OpContext, ref: string, auth?: AuthConfig): Promise<string> {
    const normalized = normalizePullRef(ref);
    const credentials = pullCredentials(auth, this.opts.registry.auths);
    const key = `${normalized}\n${JSON.stringify(auth ?? {})}`;
    let shared = this.pulls.get(key);
    if (shared === undefined) {
      const controller = new AbortController();
      const pctx: OpContext = { ...this.ns(ctx), signal: controller.signal };
      const s: SharedPull = {
        controller,
        waiters: 0,
        result: this.pullOnce(pctx, normalized, credentials).finally(() => {
          if (this.pulls.get(key) === s) this.pulls.delete(key);
        }),
      };
      this.pulls.set(key, s);
      shared = s;
    }
    return this.wait(ctx, shared);
  }

  /** Waits for a shared pull; the pull is cancelled only when every caller has given up. */
  private wait(ctx: OpContext, shared: SharedPull): Promise<string> {
    shared.waiters++;
    return new Promise<string>((resolve, reject) => {
      let done = false;
      const leave = () => {
        if (done) return;
        done = true;
        ctx.signal.removeEventListener('abort', abort);
        shared.waiters--;
      };
      const abort = () => {
        leave();
        if (shared.waiters === 0) shared.controller.abort(ctx.signal.reason);
        reject(ctx.signal.reason);
      };
      if (ctx.signal.aborted) {
        abort();
        return;
      }
      ctx.signal.addEventListener('abort', abort, { once: true });
      shared.result.then(
        (id) => {
          leave();
          resolve(id);
        },
        (err: unknown) => {
          leave();
          reject(err);
        },
      );
    });
  }

  private async pullOnce(
    ctx: OpContext,
    normalized: string,
    credentials: CredentialsFn | undefined,
  ): Promise<string> {
    const t0 = performance.now();
    const ops = await this.ops();
    const { registry } = this.opts;
    const resolver = ops.newResolver({
      ...(registry.configPath !== '' && { hostsDir: registry.configPath }),
      ...(credentials !== undefined && { credentials }),
      // Only what the request and the CRI config give: never berthd's own Docker config.
      dockerConfig: false,
      headers: { ...registry.headers },
      log: ctx.log,
    });
    const labels = this.labels(normalized);
    const image = await ops.pull(ctx, this.stores, resolver, normalized, {
      name: normalized,
      labels,
      unpack: [{ snapshotter: this.opts.snapshotter }],
      maxConcurrentDownloads: this.opts.maxConcurrentDownloads,
    });
    const d = await this.derive(ctx, image, true);
    const { repoTag, repoDigest } = repoDigestAndTag(normalized, image.target.digest);
    for (const name of [d.id, repoTag, repoDigest]) {
      if (name === '' || name === image.name) continue;
      await this.createReference(ctx, name, image.target, labels);
    }
    ctx.log.info(
      {
        image: normalized,
        id: d.id,
        repoTag,
        repoDigest,
        size: d.size,
        ms: Math.round(performance.now() - t0),
      },
      'image pulled',
    );
    return d.id;
  }

  /** The labels of a CRI record: managed; pinned for the sandbox image (containerd 1.7). */
  private labels(name: string): Labels {
    const labels: Labels = { [IMAGE_LABEL_KEY]: IMAGE_LABEL_VALUE };
    if (name === this.sandboxRef) labels[PINNED_LABEL_KEY] = PINNED_LABEL_VALUE;
    return labels;
  }

  /** Creates a record, or points an existing one at `target` with the CRI labels (containerd's createImageReference). */
  private async createReference(
    ctx: OpContext,
    name: string,
    target: Descriptor,
    labels: Labels,
  ): Promise<void> {
    const { images } = this.stores;
    const record = { name, target, labels };
    try {
      await images.create(ctx, record);
      return;
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
    const old = await images.get(ctx, name);
    const same =
      old.target.digest === target.digest &&
      Object.entries(labels).every(([k, v]) => old.labels[k] === v);
    if (same) return;
    await images.update(ctx, record, ['target', ...Object.keys(labels).map((k) => `labels.${k}`)]);
  }

  /**
   * The image `ref` names, pulled first when missing (containerd's
   * ensureImageExists, used for the sandbox image and by CreateContainer).
   */
  async ensure(ctx: OpContext, ref: string): Promise<CriImage> {
    const have = await this.find(ctx, ref);
    if (have !== undefined) return have;
    const id = await this.pull(ctx, ref);
    return this.resolve(ctx, id);
  }

  /**
   * Removes every record of the image `ref` names; a missing image is no
   * error. The last removal is followed by a collection, so the blobs and
   * snapshots only this image held go (containerd's synchronous delete).
   */
  async remove(ctx: OpContext, ref: string): Promise<void> {
    const img = await this.find(ctx, ref);
    if (img === undefined) return;
    const nctx = this.ns(ctx);
    for (const name of img.references) {
      try {
        await this.stores.images.delete(nctx, name);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    await this.opts.gc.collect();
  }
}
