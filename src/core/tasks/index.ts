/**
 * @module tasks
 * A task is a container's running side: its init process, the execs added
 * to it, and the shim that supervises them. The Tasks service speaks to a
 * {@link TaskManager}; a runtime (containerd's shim v2 today) implements it.
 * Payloads the runtime only carries (OCI specs, runtime options, cgroup
 * metrics, process details) stay protobuf Anys: berth passes them through.
 */
import type { AnyValue } from '../any/index.js';
import type { Descriptor } from '../content/index.js';
import type { Mount } from '../mount/index.js';
import type { OpContext } from '../namespaces/index.js';

export { type AnyValue, anyBuffer } from '../any/index.js';

/** containerd's task states (containerd.v1.types.Status). */
export type ProcessStatus = 'unknown' | 'created' | 'running' | 'stopped' | 'paused' | 'pausing';

export interface ProcessIO {
  /** FIFO paths or log URIs, as the client sent them; empty for none. */
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
}

export interface ProcessState extends ProcessIO {
  /** The exec id, or the container id for the init process. */
  id: string;
  pid: number;
  status: ProcessStatus;
  exitStatus: number;
  /** Nanoseconds since the epoch; 0n while running. */
  exitedAt: bigint;
}

export interface Exit {
  pid: number;
  status: number;
  /** Nanoseconds since the epoch. */
  exitedAt: bigint;
}

export interface ProcessInfo {
  pid: number;
  /** runc's ProcessDetails (the exec id), when the shim gives one. */
  info?: AnyValue;
}

/** One process of a task: the init process, or an exec. */
export interface Process {
  readonly id: string;
  state(ctx: OpContext): Promise<ProcessState>;
  start(ctx: OpContext): Promise<number>;
  kill(ctx: OpContext, signal: number, all: boolean): Promise<void>;
  /** Resolves when the process exits (at once if it has). */
  wait(ctx: OpContext): Promise<Exit>;
  resizePty(ctx: OpContext, width: number, height: number): Promise<void>;
  closeIO(ctx: OpContext): Promise<void>;
  /** Removes a stopped exec; `failed_precondition` while it runs. */
  delete(ctx: OpContext): Promise<Exit>;
}

export interface ExecOptions extends ProcessIO {
  /** The OCI Process (JSON) as an Any. */
  spec: AnyValue;
}

/** A container's task: its init process plus what acts on the whole container. */
export interface Task extends Process {
  readonly namespace: string;
  /** The runtime that runs it (`io.containerd.runc.v2`). */
  readonly runtime: string;
  pids(ctx: OpContext): Promise<ProcessInfo[]>;
  pause(ctx: OpContext): Promise<void>;
  resume(ctx: OpContext): Promise<void>;
  exec(ctx: OpContext, execId: string, opts: ExecOptions): Promise<Process>;
  /** An exec by id; `not_found` when there is none. */
  process(ctx: OpContext, execId: string): Promise<Process>;
  update(
    ctx: OpContext,
    resources: AnyValue | undefined,
    annotations: Record<string, string>,
  ): Promise<void>;
  /** The cgroup metrics as the shim reports them. */
  stats(ctx: OpContext): Promise<AnyValue | undefined>;
  /** Writes a checkpoint of the task into `path`. */
  checkpoint(ctx: OpContext, path: string, options?: AnyValue): Promise<void>;
}

export interface CreateTaskOptions {
  /** The container's OCI spec (JSON) as an Any, written to the bundle as is. */
  spec: AnyValue;
  runtime: string;
  runtimeOptions?: AnyValue;
  /** Options of this task (CreateTaskRequest.options); win over the runtime's. */
  taskOptions?: AnyValue;
  rootfs: Mount[];
  io: ProcessIO;
  /** A checkpoint to restore from, as a path the shim reads. */
  checkpoint?: string;
}

/**
 * The running tasks of every namespace. Tasks outlive the daemon: a
 * manager finds them again when it starts.
 */
export interface TaskManager {
  /**
   * `already_exists` if the container has a task. Answers the task and the
   * pid of its init process, as creating it reported.
   */
  create(ctx: OpContext, id: string, opts: CreateTaskOptions): Promise<{ task: Task; pid: number }>;
  /** `not_found` when the container has no task. */
  get(ctx: OpContext, id: string): Task;
  list(ctx: OpContext): Task[];
  /** Deletes a stopped task: its process, bundle, mounts and shim. */
  delete(ctx: OpContext, id: string): Promise<Exit>;
}

/** Turns a task's checkpoint into content, and content back into a directory to restore from. */
export interface Checkpointer {
  /** Checkpoints `task`; the descriptors of the checkpoint tar and the spec (none when the options name a path). */
  checkpoint(
    ctx: OpContext,
    task: Task,
    spec: AnyValue | undefined,
    options: AnyValue | undefined,
  ): Promise<Descriptor[]>;
  /** Unpacks a checkpoint into a directory for a restore. */
  restorePath(ctx: OpContext, checkpoint: Descriptor): Promise<string>;
  /** Removes a directory {@link restorePath} made. */
  release(path: string): void;
}

export {
  createTaskFor,
  type TaskCreator,
  type TaskInputs,
  type TaskSource,
  taskOptionsFor,
} from './from-container.js';
