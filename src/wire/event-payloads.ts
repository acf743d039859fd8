/**
 * Payloads for the events berth publishes, as containerd encodes them: the
 * generated message in a protobuf Any whose type URL is the bare full name
 * (`containerd.events.NamespaceCreate`; image events keep containerd's odd
 * `containerd.services.images.v1.ImageCreate`), so `ctr events` and the Go
 * client decode them.
 *
 * Each event type is a builder (`namespaceCreate({ name, labels })`) that
 * also knows its type URL, its decoder and the fields filters see
 * ({@link eventFields}).
 */
import type { BinaryReader, BinaryWriter } from '@bufbuild/protobuf/wire';
import {
  ContainerCreate,
  ContainerDelete,
  ContainerUpdate,
} from '../api/containerd/events/container.js';
import { ContentDelete } from '../api/containerd/events/content.js';
import { ImageCreate, ImageDelete, ImageUpdate } from '../api/containerd/events/image.js';
import {
  NamespaceCreate,
  NamespaceDelete,
  NamespaceUpdate,
} from '../api/containerd/events/namespace.js';
import {
  SnapshotCommit,
  SnapshotPrepare,
  SnapshotRemove,
} from '../api/containerd/events/snapshot.js';
import {
  TaskCheckpointed,
  TaskCreate,
  TaskDelete,
  TaskExecAdded,
  TaskExecStarted,
  TaskExit,
  type TaskIO,
  TaskOOM,
  TaskPaused,
  TaskResumed,
  TaskStart,
} from '../api/containerd/events/task.js';
import type { AnyPayload } from '../core/events/index.js';

/** What filters see of a payload under `event.`. */
export type EventFields = Record<string, unknown>;

interface Codec<T> {
  encode(message: T, writer?: BinaryWriter): BinaryWriter;
  decode(input: BinaryReader | Uint8Array, length?: number): T;
  create(): T;
}

export interface EventType<T> {
  /** The payload for `message`; fields left out take their proto defaults. */
  (message: Partial<T>): AnyPayload;
  readonly typeUrl: string;
  decode(value: Uint8Array): T;
  /**
   * The fields containerd's generated `Field()` method exposes, by proto
   * name: strings only when non-empty, `labels` only when there are some,
   * no numbers or times (containerd leaves pid, exit_status, exited_at out).
   */
  fields(message: T): EventFields;
}

const TYPES = new Map<string, EventType<unknown>>();

function define<T>(typeUrl: string, codec: Codec<T>, fields: (m: T) => EventFields): EventType<T> {
  const build = (message: Partial<T>): AnyPayload => ({
    typeUrl,
    value: codec.encode({ ...codec.create(), ...message } as T).finish(),
  });
  const type = Object.assign(build, {
    typeUrl,
    decode: (value: Uint8Array) => codec.decode(value),
    fields,
  });
  TYPES.set(typeUrl, type as EventType<unknown>);
  return type;
}

/** A string field as containerd's Field() reports it: absent when empty. */
const str = (s: string): string | undefined => (s === '' ? undefined : s);
/** Labels as containerd's Field() reports them: absent when there are none. */
const labels = (l: Record<string, string>) =>
  Object.keys(l).length === 0 ? undefined : new Map(Object.entries(l));
const taskIO = (io: TaskIO | undefined) =>
  io && {
    stdin: str(io.stdin),
    stdout: str(io.stdout),
    stderr: str(io.stderr),
    terminal: io.terminal,
  };

const EV = 'containerd.events';

export const namespaceCreate = define(`${EV}.NamespaceCreate`, NamespaceCreate, (m) => ({
  name: str(m.name),
  labels: labels(m.labels),
}));
export const namespaceUpdate = define(`${EV}.NamespaceUpdate`, NamespaceUpdate, (m) => ({
  name: str(m.name),
  labels: labels(m.labels),
}));
export const namespaceDelete = define(`${EV}.NamespaceDelete`, NamespaceDelete, (m) => ({
  name: str(m.name),
}));

const IMAGES = 'containerd.services.images.v1';
export const imageCreate = define(`${IMAGES}.ImageCreate`, ImageCreate, (m) => ({
  name: str(m.name),
  labels: labels(m.labels),
}));
export const imageUpdate = define(`${IMAGES}.ImageUpdate`, ImageUpdate, (m) => ({
  name: str(m.name),
  labels: labels(m.labels),
}));
export const imageDelete = define(`${IMAGES}.ImageDelete`, ImageDelete, (m) => ({
  name: str(m.name),
}));

export const contentDelete = define(`${EV}.ContentDelete`, ContentDelete, (m) => ({
  digest: str(m.digest),
}));

export const snapshotPrepare = define(`${EV}.SnapshotPrepare`, SnapshotPrepare, (m) => ({
  key: str(m.key),
  parent: str(m.parent),
}));
export const snapshotCommit = define(`${EV}.SnapshotCommit`, SnapshotCommit, (m) => ({
  key: str(m.key),
  name: str(m.name),
}));
export const snapshotRemove = define(`${EV}.SnapshotRemove`, SnapshotRemove, (m) => ({
  key: str(m.key),
}));

export const containerCreate = define(`${EV}.ContainerCreate`, ContainerCreate, (m) => ({
  id: str(m.id),
  image: str(m.image),
  // runtime.options is an Any whose types have no fields in containerd.
  runtime: m.runtime && { name: str(m.runtime.name) },
}));
export const containerUpdate = define(`${EV}.ContainerUpdate`, ContainerUpdate, (m) => ({
  id: str(m.id),
  image: str(m.image),
  labels: labels(m.labels),
  snapshot_key: str(m.snapshotKey),
}));
export const containerDelete = define(`${EV}.ContainerDelete`, ContainerDelete, (m) => ({
  id: str(m.id),
}));

export const taskCreate = define(`${EV}.TaskCreate`, TaskCreate, (m) => ({
  container_id: str(m.containerId),
  bundle: str(m.bundle),
  io: taskIO(m.io),
  checkpoint: str(m.checkpoint),
}));
export const taskStart = define(`${EV}.TaskStart`, TaskStart, (m) => ({
  container_id: str(m.containerId),
}));
export const taskDelete = define(`${EV}.TaskDelete`, TaskDelete, (m) => ({
  container_id: str(m.containerId),
  id: str(m.id),
}));
export const taskExit = define(`${EV}.TaskExit`, TaskExit, (m) => ({
  container_id: str(m.containerId),
  id: str(m.id),
}));
export const taskOOM = define(`${EV}.TaskOOM`, TaskOOM, (m) => ({
  container_id: str(m.containerId),
}));
export const taskExecAdded = define(`${EV}.TaskExecAdded`, TaskExecAdded, (m) => ({
  container_id: str(m.containerId),
  exec_id: str(m.execId),
}));
export const taskExecStarted = define(`${EV}.TaskExecStarted`, TaskExecStarted, (m) => ({
  container_id: str(m.containerId),
  exec_id: str(m.execId),
}));
export const taskPaused = define(`${EV}.TaskPaused`, TaskPaused, (m) => ({
  container_id: str(m.containerId),
}));
export const taskResumed = define(`${EV}.TaskResumed`, TaskResumed, (m) => ({
  container_id: str(m.containerId),
}));
export const taskCheckpointed = define(`${EV}.TaskCheckpointed`, TaskCheckpointed, (m) => ({
  container_id: str(m.containerId),
  checkpoint: str(m.checkpoint),
}));

/** The event type with this type URL, if berth knows it. */
export function eventType(typeUrl: string): EventType<unknown> | undefined {
  return TYPES.get(typeUrl);
}

/**
 * The exchange's decoder for `event.<field>` filters: the payload's fields
 * as containerd's filter adaptors see them, or undefined for a type berth
 * does not know (containerd: a type not registered with typeurl). Throws on
 * bytes that do not decode; the exchange then treats the event as fieldless.
 */
export function eventFields(event: AnyPayload): EventFields | undefined {
  const type = TYPES.get(event.typeUrl);
  return type?.fields(type.decode(event.value));
}
