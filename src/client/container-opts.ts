import { Options as RuncOptions } from '../api/containerd/runc/options/oci.js';
import type { AnyValue } from '../core/any/index.js';
import type { ContainerRecord } from '../core/containers/index.js';
import { invalidArgument } from '../core/errdefs/index.js';
import type { Labels } from '../core/labels/index.js';
import type { Client } from './client.js';
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
