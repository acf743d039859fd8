import { finished } from 'node:stream/promises';
import type { Descriptor } from '../core/content/index.js';
import {
  invalidArgument,
  isAlreadyExists,
  notFound,
  notImplemented,
} from '../core/errdefs/index.js';
import type { Image } from '../core/images/index.js';
import type { OpContext } from '../core/namespaces/index.js';
import { format, normalize, parse } from '../core/platforms/index.js';
import type {
  ExportStreamEndpoint,
  ImageStoreEndpoint,
  ImageStores,
  ImportStreamEndpoint,
  RegistryEndpoint,
  StreamManager,
  TransferEndpoint,
  TransferRequest,
  Transferrer,
} from '../core/transfer/index.js';
import { ByteSender, receiveBytes } from './byte-streams.js';
import { credentialsFromStream } from './credentials.js';
import type { ImageOps } from './ops.js';
import { ProgressSender } from './progress.js';

export interface LocalTransferConfig {
  /** containerd's hosts.toml directory (`<dir>/<host>/hosts.toml`), the registries' configuration. */
  hostsDir: string;
  maxConcurrentDownloads: number;
  maxConcurrentUploads: number;
  /**
   * The platforms and snapshotters an image store may ask to unpack for
   * (containerd's `unpack_config`); other requests are skipped, as there.
   */
  unpackPlatforms: { platform: string; snapshotter: string }[];
  /** The snapshotter of an unpack configuration that names none. */
  defaultSnapshotter: string;
}

/**
 * containerd 1.7's local transfer service (`io.containerd.transfer.v1`
 * `local`): pull (registry → image store), push (image store → registry),
 * import (import stream → image store), export (image store → export
 * stream), tag (image store → image store) and echo (import stream → export
 * stream), over the daemon's own stores. Progress goes to the request's
 * progress stream, credentials are asked on the registry's auth stream.
 */
export class LocalTransfer implements Transferrer {
  private ops: Promise<ImageOps> | undefined;

  constructor(
    private readonly stores: ImageStores,
    private readonly streams: StreamManager,
    private readonly config: LocalTransferConfig,
    private readonly loadOps: () => Promise<ImageOps>,
  ) {}

  async transfer(ctx: OpContext, req: TransferRequest): Promise<void> {
    const { source: src, destination: dst } = req;
    // Streams are looked up before anything runs, so a wrong id fails at once.
    const progress =
      req.progressStream === ''
        ? undefined
        : new ProgressSender(this.streams.get(ctx, req.progressStream), ctx.log);
    try {
      if (src.kind === 'registry' && dst.kind === 'imageStore') {
        await this.pull(ctx, src, dst, progress);
      } else if (src.kind === 'imageStore' && dst.kind === 'registry') {
        await this.push(ctx, src, dst, progress);
      } else if (src.kind === 'importStream' && dst.kind === 'imageStore') {
        await this.importStream(ctx, src, dst, progress);
      } else if (src.kind === 'imageStore' && dst.kind === 'exportStream') {
        await this.exportStream(ctx, src, dst, progress);
      } else if (src.kind === 'imageStore' && dst.kind === 'imageStore') {
        await this.tag(ctx, src, dst);
      } else if (src.kind === 'importStream' && dst.kind === 'exportStream') {
        await this.echo(ctx, src, dst);
      } else {
        throw notImplemented(`unable to transfer from ${describe(src)} to ${describe(dst)}`);
      }
    } finally {
      await progress?.close();
    }
  }

  private imageOps(): Promise<ImageOps> {
    if (this.ops === undefined) {
      this.ops = this.loadOps();
      // A failed load is retried by the next transfer.
      this.ops.catch(() => {
        this.ops = undefined;
      });
    }
    return this.ops;
  }

  private resolver(ctx: OpContext, ops: ImageOps, reg: RegistryEndpoint) {
    if (reg.defaultScheme !== '' && reg.defaultScheme !== 'http' && reg.defaultScheme !== 'https') {
      throw invalidArgument(
        `default scheme ${JSON.stringify(reg.defaultScheme)}: must be http or https`,
      );
    }
    const auth = reg.authStream === '' ? undefined : this.streams.get(ctx, reg.authStream);
    return {
      auth,
      resolver: ops.newResolver({
        hostsDir: reg.hostDir === '' ? this.config.hostsDir : reg.hostDir,
        ...(reg.defaultScheme === 'http' && { plainHttp: true }),
        // Only what the client gives: never berthd's own Docker config.
        dockerConfig: false,
        headers: reg.headers,
        log: ctx.log,
        ...(auth !== undefined && {
          credentials: credentialsFromStream(auth, reg.reference, ctx.log),
        }),
      }),
    };
  }

  private async pull(
    ctx: OpContext,
    src: RegistryEndpoint,
    dst: ImageStoreEndpoint,
    progress: ProgressSender | undefined,
  ): Promise<void> {
    const ops = await this.imageOps();
    const { auth, resolver } = this.resolver(ctx, ops, src);
    try {
      const [first] = storeNames(dst);
      if (first === undefined) {
        throw invalidArgument(`no image name to store ${JSON.stringify(src.reference)} under`);
      }
      const where = `OCI Registry (${src.reference})`;
      progress?.status(`Resolving from ${where}`);
      progress?.status(`Pulling from ${where}`);
      progress?.event('fetching image content', src.reference);
      const image = await ops.pull(ctx, this.stores, resolver, src.reference, {
        ...platformSelection(dst.platforms),
        // As containerd's image store filters a pull: every platform's
        // manifests and configs with all_metadata, at most manifest_limit
        // manifests of an index.
        ...(dst.allMetadata && { allMetadata: true }),
        ...(dst.manifestLimit > 0 && { manifestLimit: dst.manifestLimit }),
        unpack: this.unpacks(ctx, dst),
        ...(!first.addDigest && { name: first.name }),
        labels: dst.labels,
        maxConcurrentDownloads: this.config.maxConcurrentDownloads,
        ...(progress !== undefined && { onProgress: progress.forward(src.reference) }),
      });
      const saved = await this.storeImages(ctx, dst, image.target, image);
      for (const img of saved) progress?.event('saved', img.name);
      progress?.status(`Completed pull from ${where}`);
    } finally {
      auth?.close();
    }
  }

  private async push(
    ctx: OpContext,
    src: ImageStoreEndpoint,
    dst: RegistryEndpoint,
    progress: ProgressSender | undefined,
  ): Promise<void> {
    const image = await this.stores.images.get(ctx, src.name);
    const ops = await this.imageOps();
    const { auth, resolver } = this.resolver(ctx, ops, dst);
    try {
      const where = `OCI Registry (${dst.reference})`;
      progress?.status(`Pushing to ${where}`);
      progress?.event('pushing content', image.name);
      // containerd 1.7 pushes every platform the image has, and every blob:
      // its ImageStore source has no skip_non_distributable.
      await ops.push(ctx, this.stores, resolver, dst.reference, image, {
        allPlatforms: true,
        allowNonDistributable: true,
        maxConcurrentUploads: this.config.maxConcurrentUploads,
        ...(progress !== undefined && { onProgress: progress.forward(image.name, dst.reference) }),
      });
      progress?.event('pushed content', image.name);
      progress?.status(`Completed push to ${where}`);
    } finally {
      auth?.close();
    }
  }

  private async importStream(
    ctx: OpContext,
    src: ImportStreamEndpoint,
    dst: ImageStoreEndpoint,
    progress: ProgressSender | undefined,
  ): Promise<void> {
    const input = receiveBytes(this.streams.get(ctx, src.stream));
    try {
      if (src.forceCompress) {
        ctx.log.warn('import: force_compress is not supported; layers are imported as they are');
      }
      const ops = await this.imageOps();
      progress?.status('Importing');
      // The archive's manifests are named by the destination's prefix
      // references, as containerd's image store names them (ctr sends one:
      // its --base-name, or import-<date> with names in the archive allowed).
      const references = dst.extraReferences
        .filter((r) => r.isPrefix && r.name !== '')
        .map((r) => ({
          name: r.name,
          allowOverwrite: r.allowOverwrite,
          addDigest: r.addDigest,
          skipNamedDigest: r.skipNamedDigest,
        }));
      const imported = await ops.importArchive(ctx, this.stores, input, {
        references,
        ...(dst.name !== '' && { indexName: dst.name }),
        ...platformSelection(dst.platforms),
        unpack: this.unpacks(ctx, dst),
        labels: dst.labels,
        forceCompress: src.forceCompress,
        ...(progress !== undefined && { onProgress: progress.forward('import') }),
      });
      for (const img of imported) progress?.event('saved', img.name);
      progress?.status('Completed import');
    } finally {
      // Ends the client's stream even when the archive was not read to its end.
      await input.return(undefined);
    }
  }

  private async exportStream(
    ctx: OpContext,
    src: ImageStoreEndpoint,
    dst: ExportStreamEndpoint,
    progress: ProgressSender | undefined,
  ): Promise<void> {
    const sender = new ByteSender(this.streams.get(ctx, dst.stream));
    try {
      const images = await this.lookup(ctx, src);
      const ops = await this.imageOps();
      progress?.status('Exporting');
      const out = sender.writable();
      await ops.exportArchive(ctx, this.stores, out, images, {
        // containerd exports the host's platform (strictly) unless told otherwise.
        ...(dst.platforms.length > 0 && { platforms: dst.platforms }),
        allPlatforms: dst.allPlatforms,
        skipDockerManifest: dst.skipCompatibilityManifest,
        ...(dst.skipNonDistributable && { skipNonDistributable: true }),
        ...(progress !== undefined && { onProgress: progress.forward('export') }),
      });
      if (!out.writableEnded) out.end();
      await finished(out);
      progress?.status('Completed export');
    } finally {
      sender.close();
    }
  }

  private async tag(ctx: OpContext, src: ImageStoreEndpoint, dst: ImageStoreEndpoint) {
    const image = await this.stores.images.get(ctx, src.name);
    await this.storeImages(ctx, dst, image.target);
  }

  private async echo(ctx: OpContext, src: ImportStreamEndpoint, dst: ExportStreamEndpoint) {
    const input = receiveBytes(this.streams.get(ctx, src.stream));
    const sender = new ByteSender(this.streams.get(ctx, dst.stream));
    try {
      for await (const chunk of input) await sender.write(chunk);
      await sender.finish();
    } finally {
      await input.return(undefined);
      sender.close();
    }
  }

  /** The images an image store source names (export): its name and its plain extra references. */
  private async lookup(ctx: OpContext, src: ImageStoreEndpoint): Promise<Image[]> {
    const names = src.name === '' ? [] : [src.name];
    for (const ref of src.extraReferences) {
      if (ref.isPrefix) {
        throw notImplemented(`prefix lookup of ${JSON.stringify(ref.name)} on export`);
      }
      names.push(ref.name);
    }
    if (names.length === 0) throw invalidArgument('no image named to export');
    const images: Image[] = [];
    for (const name of names) images.push(await this.stores.images.get(ctx, name));
    return images;
  }

  /**
   * Creates or updates the records an image store destination names for
   * `target` (containerd's `Store`): its name and its plain extra
   * references (with `@digest` when add_digest). `pulled` is a record the
   * pull already made, returned as is.
   */
  private async storeImages(
    ctx: OpContext,
    dst: ImageStoreEndpoint,
    target: Descriptor,
    pulled?: Image,
  ): Promise<Image[]> {
    const names = storeNames(dst).map((r) => (r.addDigest ? `${r.name}@${target.digest}` : r.name));
    if (names.length === 0) {
      if (pulled !== undefined) return [pulled];
      throw notFound('no image name found');
    }
    const out: Image[] = [];
    for (const name of names) {
      if (pulled !== undefined && name === pulled.name) {
        out.push(pulled);
        continue;
      }
      const record = { name, target, labels: dst.labels };
      try {
        out.push(await this.stores.images.create(ctx, record));
      } catch (err) {
        if (!isAlreadyExists(err)) throw err;
        out.push(await this.stores.images.update(ctx, record));
      }
    }
    return out;
  }

  /** The destination's unpack configurations this daemon supports, as the image operations take them. */
  private unpacks(ctx: OpContext, dst: ImageStoreEndpoint) {
    const out: { snapshotter: string; platform: string }[] = [];
    for (const u of dst.unpacks) {
      const snapshotter = u.snapshotter === '' ? this.config.defaultSnapshotter : u.snapshotter;
      const platform = normalizePlatform(u.platform);
      const supported = this.config.unpackPlatforms.some(
        (s) => s.snapshotter === snapshotter && normalizePlatform(s.platform) === platform,
      );
      if (supported && platform !== '') out.push({ snapshotter, platform });
      else
        ctx.log.info(
          { platform: u.platform, snapshotter },
          'unpack configuration not supported; skipped',
        );
    }
    return out;
  }
}

/** The plain names an image store destination stores under (prefixes only name imports). */
function storeNames(dst: ImageStoreEndpoint): { name: string; addDigest: boolean }[] {
  const out = dst.name === '' ? [] : [{ name: dst.name, addDigest: false }];
  for (const r of dst.extraReferences) {
    if (!r.isPrefix) out.push({ name: r.name, addDigest: r.addDigest });
  }
  return out;
}

/** An image store's platforms as the image operations take them: none means all. */
function platformSelection(platforms: string[]): { platforms?: string[]; allPlatforms?: boolean } {
  return platforms.length === 0 ? { allPlatforms: true } : { platforms };
}

/**
 * A platform as containerd normalizes it (`linux/x86_64` → `linux/amd64`, `linux/arm` → `linux/arm/v7`), to compare
 * unpack configurations; a specifier that does not parse compares as written.
 */
function normalizePlatform(p: string): string {
  if (p === '') return '';
  try {
    return format(normalize(parse(p)));
  } catch {
    return p;
  }
}

function describe(e: TransferEndpoint): string {
  switch (e.kind) {
    case 'registry':
      return `OCI Registry (${e.reference})`;
    case 'imageStore':
      return `Local Image Store (${e.name})`;
    case 'importStream':
      return 'Image Import Stream';
    case 'exportStream':
      return 'Image Export Stream';
  }
}
