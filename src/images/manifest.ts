/**
 * @module
 * The JSON documents of an image (index, manifest, config) and the walk from
 * a root descriptor to the manifests a platform matcher selects, as
 * containerd's `images.Manifest`, `images.Children` and `FilterPlatforms`
 * do.
 */
import type { Descriptor, Provider } from '../core/content/index.js';
import { failedPrecondition, notFound, notImplemented } from '../core/errdefs/index.js';
import type { OpContext } from '../core/namespaces/index.js';
import { type MatchComparer, normalize, type Platform } from '../core/platforms/index.js';
import { readJson } from './blobs.js';
import { isIndex, isManifest, MT } from './media-types.js';

export interface PlatformDescriptor extends Descriptor {
  platform?: Platform;
  urls?: string[];
}

export interface IndexJson {
  schemaVersion: number;
  mediaType?: string;
  manifests: PlatformDescriptor[];
  annotations?: Record<string, string>;
}

export interface ManifestJson {
  schemaVersion: number;
  mediaType?: string;
  config: Descriptor;
  layers: PlatformDescriptor[];
  annotations?: Record<string, string>;
}

/** The parts of an OCI / Docker image config berth reads. */
export interface ImageConfigJson {
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
  config?: Record<string, unknown>;
  rootfs: { type: string; diff_ids: string[] };
  history?: unknown[];
  created?: string;
  [key: string]: unknown;
}

export async function readIndex(ctx: OpContext, p: Provider, desc: Descriptor): Promise<IndexJson> {
  const idx = await readJson<IndexJson>(ctx, p, desc);
  if (!idx || !Array.isArray(idx.manifests)) {
    throw failedPrecondition(`index ${desc.digest}: no manifests array`);
  }
  return idx;
}

export async function readManifest(
  ctx: OpContext,
  p: Provider,
  desc: Descriptor,
): Promise<ManifestJson> {
  const m = await readJson<ManifestJson>(ctx, p, desc);
  if (!m || typeof m.config !== 'object' || m.config === null || !Array.isArray(m.layers)) {
    throw failedPrecondition(`manifest ${desc.digest}: no config or layers`);
  }
  return m;
}

export async function readConfig(
  ctx: OpContext,
  p: Provider,
  desc: Descriptor,
): Promise<ImageConfigJson> {
  const c = await readJson<ImageConfigJson>(ctx, p, desc);
  if (!c?.rootfs || !Array.isArray(c.rootfs.diff_ids)) {
    throw failedPrecondition(`image config ${desc.digest}: no rootfs.diff_ids`);
  }
  return c;
}

/** Only descriptor fields (drops what a JSON document adds around them, e.g. `platform`). */
export function plainDescriptor(d: PlatformDescriptor): Descriptor {
  const out: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  if (d.annotations && Object.keys(d.annotations).length > 0) out.annotations = d.annotations;
  return out;
}

/** The children of an index or manifest blob (containerd's images.Children); none for others. */
export async function children(
  ctx: OpContext,
  p: Provider,
  desc: Descriptor,
): Promise<PlatformDescriptor[]> {
  if (isIndex(desc.mediaType)) return (await readIndex(ctx, p, desc)).manifests;
  if (isManifest(desc.mediaType)) {
    const m = await readManifest(ctx, p, desc);
    return [m.config, ...m.layers];
  }
  if (desc.mediaType === MT.dockerSchema1) {
    throw notImplemented(`${desc.digest}: Docker schema 1 manifests are not supported`);
  }
  return [];
}

/** Whether a manifest entry of an index is kept by `matcher` (entries without platform are kept). */
export function platformMatches(d: PlatformDescriptor, matcher: MatchComparer): boolean {
  return d.platform === undefined || matcher.match(normalize(d.platform));
}

/**
 * The children of an index the matcher keeps, best first; with `limit` only
 * that many manifests (containerd's FilterPlatforms + LimitManifests).
 * Non-manifest children (nested indexes) are kept. `keepUnmatched` keeps
 * every manifest, the matching ones first when limited (containerd's
 * all-metadata pull, which limits before it filters).
 */
export function filterManifests(
  list: readonly PlatformDescriptor[],
  matcher: MatchComparer,
  limit?: number,
  keepUnmatched = false,
): PlatformDescriptor[] {
  const kept = keepUnmatched
    ? [...list]
    : list.filter((d) => !isManifest(d.mediaType) || platformMatches(d, matcher));
  if (limit === undefined || limit <= 0) return kept;
  const manifests = kept
    .map((d, i) => ({ d, i }))
    .filter(({ d }) => isManifest(d.mediaType))
    .sort((a, b) => {
      const pa = a.d.platform && normalize(a.d.platform);
      const pb = b.d.platform && normalize(b.d.platform);
      const ma = platformMatches(a.d, matcher);
      if (ma !== platformMatches(b.d, matcher)) return ma ? -1 : 1;
      if (pa && pb) {
        if (matcher.less(pa, pb)) return -1;
        if (matcher.less(pb, pa)) return 1;
      }
      return a.i - b.i;
    })
    .slice(0, limit)
    .map(({ d }) => d);
  return [...manifests, ...kept.filter((d) => !isManifest(d.mediaType))];
}

export interface SelectedManifest {
  desc: Descriptor;
  manifest: ManifestJson;
  /** The index entries' platform, if any. */
  platform?: Platform;
  /** The chain of indexes above it, root first. */
  parents: Descriptor[];
}

/**
 * The manifests under `root` the matcher keeps (every index level filtered,
 * at most `limit` manifests per index, best first), each read. A manifest
 * root is returned whatever its platform; `manifestFor` checks its config.
 */
export async function selectManifests(
  ctx: OpContext,
  p: Provider,
  root: Descriptor,
  matcher: MatchComparer,
  limit?: number,
): Promise<SelectedManifest[]> {
  const out: SelectedManifest[] = [];
  const visit = async (desc: PlatformDescriptor, parents: Descriptor[]): Promise<void> => {
    if (isManifest(desc.mediaType)) {
      const manifest = await readManifest(ctx, p, desc);
      const sel: SelectedManifest = { desc: plainDescriptor(desc), manifest, parents };
      if (desc.platform) sel.platform = normalize(desc.platform);
      out.push(sel);
      return;
    }
    if (isIndex(desc.mediaType)) {
      const idx = await readIndex(ctx, p, desc);
      const kept = filterManifests(idx.manifests, matcher, limit);
      for (const child of kept) await visit(child, [...parents, plainDescriptor(desc)]);
      return;
    }
    if (desc.mediaType === MT.dockerSchema1) {
      throw notImplemented(`${desc.digest}: Docker schema 1 manifests are not supported`);
    }
  };
  await visit(root, []);
  return out;
}

/**
 * The one manifest of `root` for `matcher` (containerd's images.Manifest):
 * the best match of an index, or the root manifest when its config's platform
 * matches. `not_found` naming the platform when there is none.
 */
export async function manifestFor(
  ctx: OpContext,
  p: Provider,
  root: Descriptor,
  matcher: MatchComparer,
  what = 'the requested platform',
): Promise<SelectedManifest> {
  const found = await selectManifests(ctx, p, root, matcher, 1);
  for (const sel of found) {
    if (sel.platform) return sel;
    // A manifest with no platform in its index entry (or the root itself): its config says.
    const config = await readJson<ImageConfigJson>(ctx, p, sel.manifest.config);
    const plat: Platform = { os: config.os, architecture: config.architecture };
    if (config.variant) plat.variant = config.variant;
    if (matcher.match(normalize(plat))) return { ...sel, platform: normalize(plat) };
  }
  throw notFound(`manifest for ${what} in ${root.digest}`);
}
