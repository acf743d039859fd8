import { Options as RuncOptions } from '../api/containerd/runc/options/oci.js';
import type { AnyValue } from '../core/any/index.js';
import type { ContainerRecord } from '../core/containers/index.js';
import { invalidArgument } from '../core/errdefs/index.js';
import type { Labels } from '../core/labels/index.js';
import { chainId } from '../images/index.js';
import type { Client } from './client.js';
import type { Image } from './image.js';
import { generateSpec, type SpecOpt, specClientFor } from './oci/index.js';
import { SPEC_TYPE_URL } from './task.js';

/**
 * An option of {@link Client.newContainer} (containerd's `NewContainerOpts`):
 * it fills in the record before it is created. `client` is scoped to the
 * namespace, and to the lease that holds what the options make (a new
 * snapshot) until the record refers to it.
 */
export type NewContainerOpt = (client: Client, c: ContainerRecord) => Promise<void> | void;

/** The runtime of a new container unless {@link withRuntime} says otherwise. */
export const DEFAULT_RUNTIME = 'io.containerd.runc.v2';
/** The snapshotter of a new container unless {@link withSnapshotter} says otherwise. */
export const DEFAULT_SNAPSHOTTER = 'overlayfs';

/** The runc shim's options message (`containerd.runc.v1.Options`). */
export const RUNC_OPTIONS_TYPE_URL = 'containerd.runc.v1.Options';

/**
 * The runtime and its options: an Any, or the runc shim's options as an
 * object (`{ systemdCgroup: true, binaryName: 'crun' }`).
 */
export function withRuntime(
  name: string,
  options?: AnyValue | Partial<RuncOptions>,
): NewContainerOpt {
  return (_client, c) => {
    if (name === '') throw invalidArgument('runtime name must not be empty');
    c.runtime = { name };
    if (options === undefined) return;
    if ('typeUrl' in options && 'value' in options) {
      c.runtime.options = { typeUrl: options.typeUrl, value: options.value };
    } else {
      const runc = options as Partial<RuncOptions>;
      c.runtime.options = {
        typeUrl: RUNC_OPTIONS_TYPE_URL,
        value: RuncOptions.encode({ ...RuncOptions.create(), ...runc }).finish(),
      };
    }
  };
}

/** Labels on the container record (containerd's `WithContainerLabels`). */
export function withContainerLabels(labels: Labels): NewContainerOpt {
  return (_client, c) => {
    c.labels = { ...c.labels, ...labels };
  };
}

/** The image name the container records (containerd's `WithImageName`). */
export function withImageName(name: string): NewContainerOpt {
  return (_client, c) => {
    c.image = name;
  };
}

/** The snapshotter the container's snapshot lives in (containerd's `WithSnapshotter`). */
export function withSnapshotter(name: string): NewContainerOpt {
  return (_client, c) => {
    c.snapshotter = name;
  };
}

/**
 * An existing snapshot as the container's root filesystem (containerd's
 * `WithSnapshot`); it must exist in the container's snapshotter.
 */
export function withSnapshot(key: string): NewContainerOpt {
  return async (client, c) => {
    if (c.snapshotter === '') c.snapshotter = DEFAULT_SNAPSHOTTER;
    await client.snapshotService(c.snapshotter).stat(client.context(), key);
    c.snapshotKey = key;
  };
}

/** An extension on the record (containerd's `WithContainerExtension`). */
export function withContainerExtension(name: string, value: AnyValue): NewContainerOpt {
  return (_client, c) => {
    if (name === '') throw invalidArgument('extension name must not be empty');
    c.extensions = { ...c.extensions, [name]: value };
  };
}

/**
 * A ready OCI runtime spec (containerd's `WithSpec`), stored as JSON in an
 * Any with containerd's type URL.
 */
export function withSpec(spec: object): NewContainerOpt {
  return (_client, c) => {
    c.spec = { typeUrl: SPEC_TYPE_URL, value: Buffer.from(JSON.stringify(spec)) };
  };
}

/** The image the container is made from, by name (containerd's `WithImage`). */
export function withImage(image: Image): NewContainerOpt {
  return (_client, c) => {
    c.image = image.name;
  };
}

/**
 * A new writable snapshot `key` of the image's root filesystem as the
 * container's (containerd's `WithNewSnapshot`): prepared on the snapshot of
 * the image's top layer, so the image must be unpacked in the container's
 * snapshotter (default overlayfs; see {@link withSnapshotter}).
 */
export function withNewSnapshot(
  key: string,
  image: Image,
  opts: { labels?: Labels } = {},
): NewContainerOpt {
  return async (client, c) => {
    if (c.snapshotter === '') c.snapshotter = DEFAULT_SNAPSHOTTER;
    const parent = chainId(await image.rootFS());
    await client
      .snapshotService(c.snapshotter)
      .prepare(client.context(), key, parent, opts.labels ? { labels: opts.labels } : {});
    c.snapshotKey = key;
    c.image = image.name;
  };
}

/**
 * containerd's default OCI spec for the container, changed by the spec
 * options in order (containerd's `WithNewSpec`): `oci.withImageConfig(image)`,
 * `oci.withProcessArgs(...)`, … Options that read the image (a user by
 * name) read its layers through the content store; nothing is mounted.
 */
export function withNewSpec(...opts: SpecOpt[]): NewContainerOpt {
  return async (client, c) => {
    const spec = await generateSpec(
      specClientFor(client.context(), client.contentStore(), (name) => client.getImage(name)),
      {
        id: c.id,
        ...(c.image !== '' && { image: c.image }),
        ...(c.snapshotter !== '' && { snapshotter: c.snapshotter }),
        ...(c.snapshotKey !== '' && { snapshotKey: c.snapshotKey }),
      },
      ...opts,
    );
    c.spec = { typeUrl: SPEC_TYPE_URL, value: Buffer.from(JSON.stringify(spec)) };
  };
}
