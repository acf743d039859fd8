import { alreadyExists } from '../../core/errdefs/index.js';
import type { Task } from '../../core/tasks/index.js';
import type { ShimConnection } from './shim-connections.js';
import type { ShimLog } from './shim-log.js';

/** What the runtime holds for one task. */
export interface TaskEntry {
  task: Task;
  /** The reading end of the shim's log FIFO, while the shim lives. */
  log?: ShimLog;
  connection?: ShimConnection;
  /** Set while the daemon itself tears the task down: a closing connection is expected then. */
  deleting?: boolean;
}

/** The key of a task in the list and in a connection's task set. */
export const taskKey = (namespace: string, id: string): string => `${namespace}/${id}`;

/**
 * The runtime's tasks by namespace and id, as containerd's runtime task
 * list: live tasks (served by a shim), stopped ones (their shim is gone),
 * and the ids a create is under way for, so two creates of one id cannot
 * race.
 */
export class TaskList {
  private readonly entries = new Map<string, TaskEntry>();
  private readonly creating = new Set<string>();

  /**
   * Claims `id` for a create; `already_exists` if it has a task or a create
   * under way. The returned function gives the claim up (the create then
   * either added its task or left nothing).
   */
  reserve(namespace: string, id: string): () => void {
    const k = taskKey(namespace, id);
    if (this.entries.has(k) || this.creating.has(k)) throw alreadyExists(`task ${id}`);
    this.creating.add(k);
    return () => this.creating.delete(k);
  }

  get(namespace: string, id: string): TaskEntry | undefined {
    return this.entries.get(taskKey(namespace, id));
  }

  /** By the key a connection keeps. */
  byKey(key: string): TaskEntry | undefined {
    return this.entries.get(key);
  }

  has(namespace: string, id: string): boolean {
    return this.entries.has(taskKey(namespace, id));
  }

  set(namespace: string, id: string, entry: TaskEntry): void {
    this.entries.set(taskKey(namespace, id), entry);
  }

  delete(namespace: string, id: string): void {
    this.entries.delete(taskKey(namespace, id));
  }

  /** The tasks of a namespace, but for those being deleted. */
  list(namespace: string): Task[] {
    const prefix = `${namespace}/`;
    return [...this.entries]
      .filter(([k, e]) => k.startsWith(prefix) && !e.deleting)
      .map(([, e]) => e.task);
  }

  all(): IterableIterator<TaskEntry> {
    return this.entries.values();
  }
}
