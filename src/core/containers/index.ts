/**
 * @module containers
 * Container records, containerd's: metadata only (what to run, with which
 * runtime, on which snapshot). Nothing here starts a process; tasks do.
 *
 * Mutability, as containerd documents it: `id`, `runtime` and `snapshotter`
 * (and `sandbox`) never change; `labels`, `image`, `spec`, `snapshotKey` and
 * `extensions` may.
 */

/** Spec, runtime options and extensions are Anys kept byte for byte. */
import type { AnyValue } from '../any/index.js';
import { invalidArgument } from '../errdefs/index.js';
import { type Adaptor, fieldsAdaptor } from '../filters/index.js';
import { validateIdentifier } from '../identifiers/index.js';
import { applyLabelPaths, type Labels, validateLabel } from '../labels/index.js';
import type { OpContext } from '../namespaces/index.js';

export { AUTO_REMOVE_LABEL, RestartLabels } from './restart-labels.js';
export type { AnyValue };

export interface RuntimeInfo {
  /** e.g. `io.containerd.runc.v2`; required. */
  name: string;
  /** Absent and present-but-empty are different things and both kept. */
  options?: AnyValue;
}

export interface Container {
  id: string;
  labels: Labels;
  /** An image name; informational, never checked against the image store. */
  image: string;
  runtime: RuntimeInfo;
  /** The OCI runtime spec (JSON in an Any); required by the store. */
  spec?: AnyValue;
  /** Required when `snapshotKey` is set. */
  snapshotter: string;
  snapshotKey: string;
  /** Sandbox id (containerd 1.7's field); '' for none. */
  sandbox: string;
  /** Nanoseconds since the epoch. */
  createdAt: bigint;
  updatedAt: bigint;
  extensions: Record<string, AnyValue>;
}

/** What callers hand the store: the times are the store's. */
export type ContainerRecord = Omit<Container, 'createdAt' | 'updatedAt'>;

/**
 * Container records in the context's namespace (`failed_precondition`
 * without one).
 *
 * - `create` validates ({@link validateContainer}), throws `already_exists`
 *   for an id in use, sets both times, and brings the namespace into being.
 * - `get`, `update` and `delete` throw `not_found` for an unknown id.
 * - `list` answers containers matching any of the filters
 *   ({@link containerAdaptor}), ordered by id.
 * - `update` applies field paths as {@link applyContainerUpdate}; the result
 *   is validated again, `createdAt` kept, `updatedAt` set.
 * - Labels with an empty value are never stored.
 */
export interface ContainerStore {
  get(ctx: OpContext, id: string): Promise<Container>;
  list(ctx: OpContext, filters?: readonly string[]): Promise<Container[]>;
  create(ctx: OpContext, container: ContainerRecord): Promise<Container>;
  update(
    ctx: OpContext,
    container: ContainerRecord,
    fieldpaths?: readonly string[],
  ): Promise<Container>;
  delete(ctx: OpContext, id: string): Promise<void>;
}

/** The paths an update without any applies: every mutable field. */
export const DEFAULT_UPDATE_PATHS: readonly string[] = [
  'labels',
  'spec',
  'extensions',
  'image',
  'snapshotkey',
];

/**
 * containerd's rules for a container record, checked in its order; every
 * failure is `invalid_argument` with containerd's wording. Beyond
 * containerd (whose wire cannot carry it), an extension must have a value.
 */
export function validateContainer(c: ContainerRecord): void {
  try {
    validateIdentifier(c.id);
  } catch (err) {
    throw invalidArgument(`container.ID: ${(err as Error).message}`, { cause: err });
  }
  for (const [k, v] of Object.entries(c.extensions)) {
    if (k === '') {
      throw invalidArgument('container.Extension keys must not be zero-length');
    }
    if (!isAnyValue(v)) {
      throw invalidArgument(`container.Extensions[${JSON.stringify(k)}] must be set`);
    }
  }
  for (const [k, v] of Object.entries(c.labels)) {
    try {
      validateLabel(k, v);
    } catch (err) {
      throw invalidArgument(`containers.Labels: ${(err as Error).message}`, { cause: err });
    }
  }
  if (c.runtime.name === '') {
    throw invalidArgument('container.Runtime.Name must be set');
  }
  if (c.runtime.options !== undefined && !isAnyValue(c.runtime.options)) {
    throw invalidArgument('container.Runtime.Options must have a type URL and a value');
  }
  if (c.spec === undefined || c.spec === null) {
    throw invalidArgument('container.Spec must be set');
  }
  if (!isAnyValue(c.spec)) {
    throw invalidArgument('container.Spec must have a type URL and a value');
  }
  if (c.snapshotKey !== '' && c.snapshotter === '') {
    throw invalidArgument('container.Snapshotter must be set if container.SnapshotKey is set');
  }
}

/**
 * The record an update makes of `current`, taking values from `incoming`.
 *
 * With paths, each is applied in turn: `labels` and `extensions` replace
 * the map, `labels.<key>` and `extensions.<key>` set one entry (removed when
 * `incoming` has none, or for labels an empty value), `image`, `spec` and
 * `snapshotkey` replace the field. Any other path (`runtime`, `snapshotter`,
 * `id`, …) is `invalid_argument`. containerd stores an empty Any for an
 * `extensions.<key>` missing from the request; berth removes the entry, as
 * field masks mean.
 *
 * Without paths, {@link DEFAULT_UPDATE_PATHS} apply, after checking that
 * the immutable fields are unchanged (`invalid_argument` otherwise):
 * snapshotter, runtime name and sandbox. Runtime options are kept.
 */
export function applyContainerUpdate(
  current: ContainerRecord,
  incoming: ContainerRecord,
  fieldpaths: readonly string[] = [],
): ContainerRecord {
  let paths = fieldpaths;
  if (paths.length === 0) {
    paths = DEFAULT_UPDATE_PATHS;
    if (current.snapshotter !== incoming.snapshotter) {
      throw invalidArgument('container.Snapshotter field is immutable');
    }
    if (current.runtime.name !== incoming.runtime.name) {
      throw invalidArgument('container.Runtime.Name field is immutable');
    }
    if (current.sandbox !== incoming.sandbox) {
      throw invalidArgument('container.SandboxID field is immutable');
    }
  }
  const next: ContainerRecord = copyRecord(current);
  next.id = incoming.id;
  const labelPaths: string[] = [];
  for (const path of paths) {
    if (path === 'labels' || path.startsWith('labels.')) {
      labelPaths.push(path);
    } else if (path.startsWith('extensions.')) {
      const key = path.slice('extensions.'.length);
      const value = incoming.extensions[key];
      if (value === undefined) delete next.extensions[key];
      else next.extensions[key] = copyAny(value);
    } else if (path === 'extensions') {
      next.extensions = copyExtensions(incoming.extensions);
    } else if (path === 'spec') {
      next.spec = incoming.spec && copyAny(incoming.spec);
      if (next.spec === undefined) delete next.spec;
    } else if (path === 'image') {
      next.image = incoming.image;
    } else if (path === 'snapshotkey') {
      next.snapshotKey = incoming.snapshotKey;
    } else {
      throw invalidArgument(
        `cannot update ${JSON.stringify(path)} field on ${JSON.stringify(incoming.id)}`,
      );
    }
  }
  if (labelPaths.length > 0) {
    next.labels = applyLabelPaths(current.labels, incoming.labels, labelPaths).labels;
  }
  return next;
}

/**
 * A deep copy with empty-valued labels dropped (containerd stores none) and
 * byte arrays copied, so later changes to the caller's buffers cannot reach
 * the store.
 */
export function normalizeContainer(c: ContainerRecord): ContainerRecord {
  const out = copyRecord(c);
  for (const [k, v] of Object.entries(out.labels)) if (v === '') delete out.labels[k];
  return out;
}

/**
 * The fields containerd's container filters see (metadata/adaptors.go):
 * `id`, `image`, `runtime.name` and `labels.<key>`, each present only when
 * non-empty. Snapshotter, snapshot key and sandbox are not filterable.
 */
export function containerAdaptor(c: Container | ContainerRecord): Adaptor {
  return fieldsAdaptor({
    id: c.id || undefined,
    image: c.image || undefined,
    runtime: { name: c.runtime.name || undefined },
    labels: c.labels,
  });
}

function isAnyValue(v: unknown): v is AnyValue {
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof (v as AnyValue).typeUrl === 'string' &&
    (v as AnyValue).value instanceof Uint8Array
  );
}

function copyAny(v: AnyValue): AnyValue {
  return { typeUrl: v.typeUrl, value: Uint8Array.from(v.value) };
}

function copyExtensions(ext: Record<string, AnyValue>): Record<string, AnyValue> {
  const out: Record<string, AnyValue> = {};
  for (const [k, v] of Object.entries(ext)) out[k] = isAnyValue(v) ? copyAny(v) : v;
  return out;
}

function copyRecord(c: ContainerRecord): ContainerRecord {
  const runtime: RuntimeInfo = { name: c.runtime.name };
  if (c.runtime.options !== undefined) {
    runtime.options = isAnyValue(c.runtime.options)
      ? copyAny(c.runtime.options)
      : c.runtime.options;
  }
  const out: ContainerRecord = {
    id: c.id,
    labels: { ...c.labels },
    image: c.image,
    runtime,
    snapshotter: c.snapshotter,
    snapshotKey: c.snapshotKey,
    sandbox: c.sandbox,
    extensions: copyExtensions(c.extensions),
  };
  if (c.spec !== undefined && c.spec !== null) {
    out.spec = isAnyValue(c.spec) ? copyAny(c.spec) : c.spec;
  }
  return out;
}
