/**
 * @module
 * Image media types and what containerd's `images` package says about them:
 * which are indexes, manifests, configs and layers, the content-store ref
 * prefix of each (`remotes.MakeRefKey`), and the `containerd.io/gc.ref.*`
 * label a parent uses for each child (`images.ChildGCLabels`).
 */
import { MEDIA_TYPES } from '../archive/index.js';
import type { Descriptor } from '../core/content/index.js';

export const MT = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: MEDIA_TYPES.ociLayer,
  ociLayerGzip: MEDIA_TYPES.ociLayerGzip,
  ociLayerZstd: MEDIA_TYPES.ociLayerZstd,
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: MEDIA_TYPES.dockerLayer,
  dockerLayerGzip: MEDIA_TYPES.dockerLayerGzip,
  dockerLayerForeignGzip: MEDIA_TYPES.dockerLayerForeignGzip,
  /** Docker schema 1 (not supported: containerd converts it, berth refuses it). */
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const;

/** OCI annotation naming an image in a layout's index.json (`org.opencontainers.image.ref.name`). */
export const ANNOTATION_REF_NAME = 'org.opencontainers.image.ref.name';
/** containerd's annotation carrying the full image name in an exported index.json. */
export const ANNOTATION_IMAGE_NAME = 'io.containerd.image.name';

export function isIndex(mt: string): boolean {
  return mt === MT.ociIndex || mt === MT.dockerManifestList;
}

export function isManifest(mt: string): boolean {
  return mt === MT.ociManifest || mt === MT.dockerManifest;
}

/** containerd's IsKnownConfig: the OCI and Docker image configs (and the plugin/buildkit ones it names). */
export function isConfig(mt: string): boolean {
  return (
    mt === MT.ociConfig ||
    mt === MT.dockerConfig ||
    mt === 'application/vnd.docker.plugin.v1+json' ||
    mt === 'application/vnd.buildkit.cacheconfig.v0'
  );
}

/** containerd's IsNonDistributable: layers not to be redistributed (Windows base layers). */
export function isNonDistributable(mt: string): boolean {
  return (
    mt.startsWith('application/vnd.oci.image.layer.nondistributable.') ||
    mt.startsWith('application/vnd.docker.image.rootfs.foreign.')
  );
}

/** containerd's IsLayerType: OCI layer types (any suffix) and Docker rootfs diffs. */
export function isLayer(mt: string): boolean {
  if (mt.startsWith('application/vnd.oci.image.layer.')) return true;
  const base = mt.split('+')[0] ?? '';
  return (
    base === MT.dockerLayer ||
    base === MT.dockerLayerGzip ||
    base === 'application/vnd.docker.image.rootfs.foreign.diff.tar' ||
    base === MT.dockerLayerForeignGzip
  );
}

/** The ingest ref containerd uses for a fetched blob (`layer-sha256:…`, `name@digest` when annotated). */
export function refKey(desc: Descriptor): string {
  const name = desc.annotations?.[ANNOTATION_REF_NAME];
  const key = name ? `${name}@${desc.digest}` : desc.digest;
  const mt = desc.mediaType;
  if (isManifest(mt)) return `manifest-${key}`;
  if (isIndex(mt)) return `index-${key}`;
  if (isLayer(mt)) return `layer-${key}`;
  if (isConfig(mt)) return `config-${key}`;
  return `unknown-${key}`;
}

/** The gc.ref label (prefix) a parent gives a child of this media type (containerd's ChildGCLabels). */
export function childGcLabel(mt: string): string {
  if (isConfig(mt)) return 'containerd.io/gc.ref.content.config';
  if (isManifest(mt)) return 'containerd.io/gc.ref.content.m.';
  if (isLayer(mt)) return 'containerd.io/gc.ref.content.l.';
  return 'containerd.io/gc.ref.content.';
}

/**
 * The labels a parent gets for its children (containerd's
 * SetChildrenMappedLabels): keys ending in `.` are numbered from 0 per key,
 * others numbered only from their second use.
 */
export function childrenLabels(children: readonly Descriptor[]): Record<string, string> {
  const labels: Record<string, string> = {};
  const counts = new Map<string, number>();
  for (const child of children) {
    const key = childGcLabel(child.mediaType);
    const idx = counts.get(key) ?? 0;
    counts.set(key, idx + 1);
    labels[idx > 0 || key.endsWith('.') ? `${key}${idx}` : key] = child.digest;
  }
  return labels;
}
