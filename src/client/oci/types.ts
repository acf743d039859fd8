/**
 * @module
 * The seams between the spec options and the client library:
 * {@link SpecOpt}, {@link SpecClient}, {@link SpecContainer},
 * {@link SpecImage}. The OCI runtime-spec and image config types come from
 * src/core/oci (shared with the CRI's spec builders) and are re-exported here.
 */
import type { Descriptor } from '../../core/content/index.js';
import type { Spec } from '../../core/oci/index.js';

export type * from '../../core/oci/types.js';

/**
 * An image as the spec options need it: its name, and the manifest of the
 * platform the container runs on. The client library's `Image` satisfies it
 * (a parsed OCI or Docker manifest has `config` and `layers`).
 */
export interface SpecImage {
  /** The image record's name, e.g. `docker.io/library/busybox:latest`. */
  readonly name: string;
  /**
   * The platform's manifest: the config blob's descriptor and the layer
   * descriptors, bottom layer first, as in the manifest. Layers that the
   * content store no longer holds fail user resolution with `not_found`.
   */
  manifest(): Promise<{ config: Descriptor; layers: readonly Descriptor[] }>;
  /**
   * Reads one of the image's blobs, when the image has a way of its own
   * (the client's `Image` answers the small blobs it has read already);
   * otherwise the {@link SpecClient}'s `readBlob` is used.
   */
  readBlob?(desc: Descriptor, opts?: { signal?: AbortSignal }): AsyncIterable<Uint8Array>;
}

/**
 * What spec options need from the client: the namespace, the caller's abort
 * signal, blob reads from the content store (image configs, and layers for
 * resolving user and group names without mounting anything) and image
 * lookup by name (for options that find the image through the container).
 */
export interface SpecClient {
  /** The namespace the container is created in (the default cgroups path is `/<namespace>/<id>`). */
  readonly namespace: string;
  /** Aborts long option work (reading layers). */
  readonly signal?: AbortSignal;
  /**
   * The bytes of a committed blob, streamed in chunks. A missing blob throws
   * `not_found` (while iterating is fine).
   */
  readBlob(desc: Descriptor, opts?: { signal?: AbortSignal }): AsyncIterable<Uint8Array>;
  /** The image record `name` (`not_found` if there is none). */
  getImage(name: string): Promise<SpecImage>;
}

/**
 * The container a spec is generated for: containerd's `containers.Container`
 * as far as spec options read it. The client fills it from the container
 * options applied before `withNewSpec`.
 */
export interface SpecContainer {
  readonly id: string;
  /** The image name (`containers.Container.Image`), if the container has one. */
  readonly image?: string;
  readonly snapshotter?: string;
  readonly snapshotKey?: string;
}

/**
 * A spec option: changes `spec` in place, given the client and the container
 * (containerd's `oci.SpecOpts`). Options run in order; the first to throw
 * stops the generation.
 */
export type SpecOpt = (
  client: SpecClient,
  container: SpecContainer,
  spec: Spec,
) => void | Promise<void>;
