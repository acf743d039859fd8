import {
  type CheckpointTaskRequest,
  type CloseIORequest,
  type CreateTaskRequest,
  type DeleteProcessRequest,
  type DeleteTaskRequest,
  type ExecProcessRequest,
  type GetRequest,
  type KillRequest,
  type ListPidsRequest,
  type ListTasksRequest,
  type MetricsRequest,
  type PauseTaskRequest,
  type ResizePtyRequest,
  type ResumeTaskRequest,
  type StartRequest,
  TasksService,
  type UpdateTaskRequest,
  type WaitRequest,
} from '../../api/containerd/services/tasks/v1/tasks.js';
import type { Metric } from '../../api/containerd/types/metrics.js';
import { invalidArgument, isNotFound, notFound } from '../../core/errdefs/index.js';
import { fieldsAdaptor, parseFilters } from '../../core/filters/index.js';
import type { OpContext } from '../../core/namespaces/index.js';
import {
  type AnyValue,
  anyBuffer,
  type Checkpointer,
  type Process,
  type Task,
  type TaskManager,
  taskOptionsFor,
} from '../../core/tasks/index.js';
import { nowNanos } from '../../core/time/index.js';
import { type GrpcService, unary } from '../../server/service.js';
import { descriptorFromProto, descriptorToProto } from '../../wire/descriptor.js';
import { processToProto } from '../../wire/tasks.js';
import { toTimestamp } from '../../wire/timestamp.js';

/** What the Tasks service reads of a container record. */
export interface ContainerLookup {
  get(
    ctx: OpContext,
    id: string,
  ): Promise<{ id: string; runtime: { name: string; options?: AnyValue }; spec?: AnyValue }>;
}

export interface TasksServiceDeps {
  containers: ContainerLookup;
  tasks: TaskManager;
  checkpointer: Checkpointer;
}

/**
 * containerd.services.tasks.v1.Tasks over a {@link TaskManager}, as
 * containerd's services/tasks/local.go: a task is found through its
 * container (a missing container is `not_found` naming it), exec ids pick a
 * process of the task, and every state comes from the shim. Events come
 * from the shims themselves (`/tasks/*`, forwarded over ttrpc).
 */
export function tasksService({ containers, tasks, checkpointer }: TasksServiceDeps): GrpcService {
  const getTask = async (ctx: OpContext, id: string): Promise<Task> => {
    await containers.get(ctx, id);
    try {
      return tasks.get(ctx, id);
    } catch (err) {
      if (isNotFound(err)) throw notFound(`task ${id}`);
      throw err;
    }
  };
  const getProcess = async (ctx: OpContext, id: string, execId: string): Promise<Process> => {
    const task = await getTask(ctx, id);
    return execId === '' ? task : task.process(ctx, execId);
  };

  /**
   * A create takes long (a shim to start, runc, OCI hooks) and is not
   * cancelled when its caller goes away: a container deleted meanwhile
   * (`rm -f` after a killed `run` found no task yet) must not end with a
   * task nobody can reach by its container. The created task goes again.
   */
  const dropIfContainerGone = async (ctx: OpContext, id: string): Promise<void> => {
    try {
      await containers.get(ctx, id);
      return;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    await tasks
      .delete(ctx, id)
      .catch((err) =>
        ctx.log.warn({ err, id }, 'deleting the task of a container deleted while it was created'),
      );
    throw notFound(`container ${id} was deleted while its task was being created`);
  };

  return {
    name: 'containerd.services.tasks.v1.Tasks',
    definition: TasksService,
    namespaced: true,
    handlers: {
      Create: unary(async (ctx, req: CreateTaskRequest) => {
        const container = await containers.get(ctx, req.containerId);
        if (!container.spec) throw invalidArgument(`container ${req.containerId} has no spec`);
        let checkpoint: string | undefined;
        if (req.checkpoint) {
          checkpoint = await checkpointer.restorePath(ctx, descriptorFromProto(req.checkpoint));
        }
        try {
          const options = taskOptionsFor(container, {
            rootfs: req.rootfs.map((m) => ({ type: m.type, source: m.source, options: m.options })),
            io: {
              stdin: req.stdin,
              stdout: req.stdout,
              stderr: req.stderr,
              terminal: req.terminal,
            },
            runtimePath: req.runtimePath,
            ...(req.options && { taskOptions: req.options }),
            ...(checkpoint !== undefined && { checkpoint }),
          });
          const { pid } = await tasks.create(ctx, req.containerId, options);
          await dropIfContainerGone(ctx, req.containerId);
          return { containerId: req.containerId, pid };
        } finally {
          if (checkpoint !== undefined) checkpointer.release(checkpoint);
        }
      }),
      Start: unary(async (ctx, req: StartRequest) => {
        const p = await getProcess(ctx, req.containerId, req.execId);
        return { pid: await p.start(ctx) };
      }),
      Delete: unary(async (ctx, req: DeleteTaskRequest) => {
        await getTask(ctx, req.containerId);
        const exit = await tasks.delete(ctx, req.containerId);
        return {
          id: '',
          pid: exit.pid,
          exitStatus: exit.status,
          exitedAt: toTimestamp(exit.exitedAt),
        };
      }),
      DeleteProcess: unary(async (ctx, req: DeleteProcessRequest) => {
        if (req.execId === '') throw invalidArgument('exec id cannot be empty');
        const p = await getProcess(ctx, req.containerId, req.execId);
        const exit = await p.delete(ctx);
        return {
          id: req.execId,
          pid: exit.pid,
          exitStatus: exit.status,
          exitedAt: toTimestamp(exit.exitedAt),
        };
      }),
      Get: unary(async (ctx, req: GetRequest) => {
        const p = await getProcess(ctx, req.containerId, req.execId);
        return { process: processToProto(await p.state(ctx)) };
      }),
      List: unary(async (ctx, _req: ListTasksRequest) => {
        const states = await Promise.all(
          tasks.list(ctx).map(async (t) => {
            try {
              return processToProto(await t.state(ctx));
            } catch (err) {
              if (isNotFound(err)) return undefined;
              throw err;
            }
          }),
        );
        return { tasks: states.filter((s) => s !== undefined) };
      }),
      Kill: unary(async (ctx, req: KillRequest) => {
        const p = await getProcess(ctx, req.containerId, req.execId);
        await p.kill(ctx, req.signal, req.all);
        return {};
      }),
      Exec: unary(async (ctx, req: ExecProcessRequest) => {
        if (req.execId === '') throw invalidArgument('exec id cannot be empty');
        if (!req.spec) throw invalidArgument(`exec ${req.execId}: a process spec is required`);
        const task = await getTask(ctx, req.containerId);
        await task.exec(ctx, req.execId, {
          stdin: req.stdin,
          stdout: req.stdout,
          stderr: req.stderr,
          terminal: req.terminal,
          spec: req.spec,
        });
        return {};
      }),
      ResizePty: unary(async (ctx, req: ResizePtyRequest) => {
        const p = await getProcess(ctx, req.containerId, req.execId);
        await p.resizePty(ctx, req.width, req.height);
        return {};
      }),
      CloseIO: unary(async (ctx, req: CloseIORequest) => {
        const p = await getProcess(ctx, req.containerId, req.execId);
        if (req.stdin) await p.closeIO(ctx);
        return {};
      }),
      Pause: unary(async (ctx, req: PauseTaskRequest) => {
        await (await getTask(ctx, req.containerId)).pause(ctx);
        return {};
      }),
      Resume: unary(async (ctx, req: ResumeTaskRequest) => {
        await (await getTask(ctx, req.containerId)).resume(ctx);
        return {};
      }),
      ListPids: unary(async (ctx, req: ListPidsRequest) => {
        const pids = await (await getTask(ctx, req.containerId)).pids(ctx);
        return { processes: pids.map((p) => ({ pid: p.pid, info: p.info })) };
      }),
      Checkpoint: unary(async (ctx, req: CheckpointTaskRequest) => {
        const container = await containers.get(ctx, req.containerId);
        const task = await getTask(ctx, req.containerId);
        const descriptors = await checkpointer.checkpoint(ctx, task, container.spec, req.options);
        return { descriptors: descriptors.map(descriptorToProto) };
      }),
      Update: unary(async (ctx, req: UpdateTaskRequest) => {
        const task = await getTask(ctx, req.containerId);
        await task.update(ctx, req.resources, req.annotations);
        return {};
      }),
      Metrics: unary(async (ctx, req: MetricsRequest) => {
        const filter = parseFilters(req.filters);
        const metrics: Metric[] = [];
        for (const t of tasks.list(ctx)) {
          const fields = fieldsAdaptor({ id: t.id, namespace: t.namespace, runtime: t.runtime });
          if (!filter.match(fields)) continue;
          const collected = nowNanos();
          let data: AnyValue | undefined;
          try {
            data = await t.stats(ctx);
          } catch (err) {
            if (isNotFound(err)) continue;
            ctx.log.warn({ err, id: t.id }, 'collecting task metrics');
            continue;
          }
          metrics.push({ timestamp: toTimestamp(collected), id: t.id, data: anyBuffer(data) });
        }
        return { metrics };
      }),
      // A wait can last as long as the process: it ends (UNAVAILABLE) when
      // berthd stops rather than holding the shutdown.
      Wait: unary(
        async (ctx, req: WaitRequest) => {
          const p = await getProcess(ctx, req.containerId, req.execId);
          const exit = await p.wait(ctx);
          return { exitStatus: exit.status, exitedAt: toTimestamp(exit.exitedAt) };
        },
        { endsAtShutdown: true },
      ),
    },
  };
}
