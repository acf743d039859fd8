import type { Container } from '../containers/index.js';
import { invalidArgument } from '../errdefs/index.js';
import type { Mount } from '../mount/index.js';
import type { OpContext } from '../namespaces/index.js';
import type { Snapshotter } from '../snapshots/index.js';
import type { CreateTaskOptions, ProcessIO, Task, TaskManager } from './index.js';

/** What of a container record a task is made from. */
export type TaskSource = Pick<Container, 'id' | 'runtime' | 'spec'>;

/** What the caller adds to the record: the rootfs, the IO, and the Tasks API's overrides. */
export interface TaskInputs {
  rootfs: Mount[];
  io: ProcessIO;
  /** CreateTaskRequest.runtime_path: wins over the record's runtime name when set. */
  runtimePath?: string;
  taskOptions?: CreateTaskOptions['taskOptions'];
  checkpoint?: string;
}

/**
 * The options a task of `container` is created with, as containerd's
 * Tasks service builds them: the record's spec and runtime (name and
 * options), the caller's rootfs and IO. `invalid_argument` for a record
 * without a spec.
 */
export function taskOptionsFor(container: TaskSource, inputs: TaskInputs): CreateTaskOptions {
  if (!container.spec) throw invalidArgument(`container ${container.id} has no spec`);
  return {
    spec: container.spec,
    runtime: inputs.runtimePath || container.runtime.name,
    ...(container.runtime.options && { runtimeOptions: container.runtime.options }),
    ...(inputs.taskOptions && { taskOptions: inputs.taskOptions }),
    rootfs: inputs.rootfs,
    io: inputs.io,
    ...(inputs.checkpoint !== undefined && { checkpoint: inputs.checkpoint }),
  };
}

/** What {@link createTaskFor} creates a task with. */
export interface TaskCreator {
  tasks: TaskManager;
  /** The namespaced snapshotter of this name; `not_found`/`invalid_argument` for an unknown one. */
  snapshotter(name: string): Snapshotter;
}

/**
 * Creates (does not start) the task of a container record daemon-side, as
 * containerd's client does before calling Tasks.Create: the rootfs is the
 * mounts of the record's snapshot (none without a snapshot key).
 */
export async function createTaskFor(
  ctx: OpContext,
  deps: TaskCreator,
  container: Container,
  io: ProcessIO,
): Promise<{ task: Task; pid: number }> {
  const rootfs =
    container.snapshotKey === ''
      ? []
      : await deps.snapshotter(container.snapshotter).mounts(ctx, container.snapshotKey);
  return deps.tasks.create(ctx, container.id, taskOptionsFor(container, { rootfs, io }));
}
