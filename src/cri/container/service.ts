/**
 * @module
 * Containers in pods: the CRI RuntimeService's container calls, as
 * containerd 1.6's CRI plugin serves them (pkg/cri/server/container_*.go).
 *
 * Where things live:
 * - the record: a containerd container in `k8s.io` (kind label
 *   `container`, the CRI metadata as an extension, the OCI spec, runtime
 *   and snapshot), so `ctr -n k8s.io containers ls` shows it;
 * - the status: `<root>/containers/<id>/status`, checkpointed;
 * - the FIFOs: `<state>/containers/<id>/io/` (src/cri/io);
 * - the rootfs: snapshot `<id>` on the runtime's snapshotter, prepared
 *   from the image's chain ID;
 * - image VOLUMEs: `<root>/containers/<id>/volumes/<random>`;
 * - the task: the TaskManager's, on the runtime the pod's handler names.
 *
 * Each running container has an exit monitor: when its task exits, the
 * output is drained, the task deleted (its shim goes) and the exit recorded.
 * `/tasks/oom` events mark a container `OOMKilled`.
 *
 * {@link ContainerService} holds the state (the store, the name index, the
 * options, the exit monitors) and the lookups every call shares; each call is
 * a function of the service in the file named for it: create.ts,
 * lifecycle.ts (start, stop, the exit monitor, OOM events), remove.ts,
 * status-list.ts (status, list, update), exec-attach.ts (exec, attach,
 * ExecSync, log reopening), stats.ts and recover.ts.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import {
  type AttachRequest,
  type AttachResponse,
  type ContainerConfig,
  ContainerState,
  type ContainerStatsRequest,
  type ContainerStatsResponse,
  type ContainerStatusRequest,
  type ContainerStatusResponse,
  type CreateContainerRequest,
  type CreateContainerResponse,
  type ExecRequest,
  type ExecResponse,
  type ExecSyncRequest,
  type ExecSyncResponse,
  type ListContainerStatsRequest,
  type ListContainerStatsResponse,
  type ListContainersRequest,
  type ListContainersResponse,
  type RemoveContainerRequest,
  type ReopenContainerLogRequest,
  type StartContainerRequest,
  type StopContainerRequest,
  type UpdateContainerResourcesRequest,
} from '../../api/k8s/cri/runtime/v1/api.js';
import type { ContainerStore as RecordStore } from '../../core/containers/index.js';
import { failedPrecondition, invalidArgument, unavailable } from '../../core/errdefs/index.js';
import type { Subscriber } from '../../core/events/index.js';
import { LEASE_EXPIRE_LABEL, type LeaseManager } from '../../core/leases/index.js';
import type { Logger } from '../../core/log/index.js';
import type { OpContext } from '../../core/namespaces/index.js';
import type { Snapshotter } from '../../core/snapshots/index.js';
import type { TaskManager } from '../../core/tasks/index.js';
import { type Handler, unary } from '../../server/service.js';
import { removeTree } from '../../sys/remove-tree.js';
import { ContainerIO } from '../io/index.js';
import type { SpecHost, SpecOptions } from '../opts/index.js';
import { NameIndex } from '../store/index.js';
import { CONTAINERS_DIR, K8S_NAMESPACE } from './constants.js';
import * as create from './create.js';
import type {
  ImageLookup,
  SandboxInfo,
  SandboxLookup,
  StatsCollector,
  StreamingUrls,
  StreamOptions,
} from './deps.js';
import * as execAttach from './exec-attach.js';
import { withMessage } from './helpers.js';
import * as lifecycle from './lifecycle.js';
import * as recovery from './recover.js';
import * as removal from './remove.js';
import * as stats from './stats.js';
import { stateName, stateOf } from './status.js';
import * as statusList from './status-list.js';
import { ContainerStore, type CriContainer } from './store.js';

export { K8S_NAMESPACE } from './constants.js';

export interface ContainerServiceOptions {
  /** The CRI plugin's persistent directory (`<root>/io.containerd.grpc.v1.cri`). */
  rootDir: string;
  /** The CRI plugin's volatile directory (`<state>/io.containerd.grpc.v1.cri`). */
  stateDir: string;
  records: RecordStore;
  snapshotters: ReadonlyMap<string, Snapshotter>;
  tasks: TaskManager;
  /** Holds a new container's snapshot against collection until its record names it. */
  leases?: LeaseManager;
  /** For `/tasks/oom`. */
  events?: Subscriber;
  sandboxes: SandboxLookup;
  images: ImageLookup;
  /** What specs are built with (src/cri/opts): the CRI settings and daemon facts, the host. */
  spec: { options: SpecOptions; host: SpecHost };
  /** containerd's `max_container_log_line_size` (default 16 KiB). */
  maxLogLineSize?: number;
  /** containerd's `ignore_image_defined_volumes`: no directories for the image's VOLUMEs. */
  ignoreImageDefinedVolumes?: boolean;
  /**
   * How long an exit waits for the container's output to reach the log
   * before its task is deleted (a child that kept the output open holds
   * it); default 5 s.
   */
  outputDrainMs?: number;
  streaming?: StreamingUrls;
  stats?: StatsCollector;
  /** The snapshotter containers' rootfs are prepared on (`containerd.snapshotter`). */
  snapshotter: string;
  log: Logger;
}

export class ContainerService {
  readonly store = new ContainerStore();
  readonly names = new NameIndex();
  readonly life = new AbortController();
  readonly monitors = new Set<Promise<void>>();

  constructor(readonly opts: ContainerServiceOptions) {}

  /** The handlers, by RuntimeService method name, for the plugin's gRPC service. */
  handlers(): Record<string, Handler> {
    return {
      CreateContainer: unary((ctx, req: CreateContainerRequest) => this.createContainer(ctx, req)),
      StartContainer: unary((ctx, req: StartContainerRequest) => this.startContainer(ctx, req)),
      StopContainer: unary((ctx, req: StopContainerRequest) => this.stopContainer(ctx, req)),
      RemoveContainer: unary((ctx, req: RemoveContainerRequest) => this.removeContainer(ctx, req)),
      ContainerStatus: unary((ctx, req: ContainerStatusRequest) => this.containerStatus(ctx, req)),
      ListContainers: unary((ctx, req: ListContainersRequest) => this.listContainers(ctx, req)),
      UpdateContainerResources: unary((ctx, req: UpdateContainerResourcesRequest) =>
        this.updateContainerResources(ctx, req),
      ),
      ReopenContainerLog: unary((ctx, req: ReopenContainerLogRequest) =>
        this.reopenContainerLog(ctx, req),
      ),
      ExecSync: unary((ctx, req: ExecSyncRequest) => this.execSync(ctx, req)),
      Exec: unary((ctx, req: ExecRequest) => this.exec(ctx, req)),
      Attach: unary((ctx, req: AttachRequest) => this.attach(ctx, req)),
      ContainerStats: unary((ctx, req: ContainerStatsRequest) => this.containerStats(ctx, req)),
      ListContainerStats: unary((ctx, req: ListContainerStatsRequest) =>
        this.listContainerStats(ctx, req),
      ),
    };
  }

  /** CreateContainer: everything done is undone when a step fails. */
  async createContainer(
    callCtx: OpContext,
    req: CreateContainerRequest,
  ): Promise<CreateContainerResponse> {
    return create.createContainer(this, callCtx, req);
  }

  /** StartContainer: a failure leaves the container EXITED with `StartError` (128). */
  async startContainer(callCtx: OpContext, req: StartContainerRequest): Promise<object> {
    return lifecycle.startContainer(this, callCtx, req);
  }

  async stopContainer(callCtx: OpContext, req: StopContainerRequest): Promise<object> {
    return lifecycle.stopContainer(this, callCtx, req);
  }

  /**
   * Stops a running (or unknown) container: its stop signal, `timeoutMs`
   * to exit, then SIGKILL; answers once the exit is recorded. A container
   * in any other state is left as it is.
   */
  async stop(ctx: OpContext, c: CriContainer, timeoutMs: number): Promise<void> {
    return lifecycle.stop(this, ctx, c, timeoutMs);
  }

  /** RemoveContainer: idempotent; a running container is killed first. */
  async removeContainer(callCtx: OpContext, req: RemoveContainerRequest): Promise<object> {
    return removal.removeContainer(this, callCtx, req);
  }

  /** Removes a container (killing it first if it runs): task, record, snapshot, FIFOs, status, dirs. */
  async remove(ctx: OpContext, c: CriContainer): Promise<void> {
    return removal.remove(this, ctx, c);
  }

  /** Stops every container of a pod (StopPodSandbox): SIGKILL at once, as containerd does. */
  async stopAll(ctx: OpContext, sandboxId: string): Promise<void> {
    return removal.stopAll(this, ctx, sandboxId);
  }

  /** Removes every container of a pod (RemovePodSandbox). */
  async removeAll(ctx: OpContext, sandboxId: string): Promise<void> {
    return removal.removeAll(this, ctx, sandboxId);
  }

  async containerStatus(
    callCtx: OpContext,
    req: ContainerStatusRequest,
  ): Promise<ContainerStatusResponse> {
    return statusList.containerStatus(this, callCtx, req);
  }

  listContainers(_ctx: OpContext, req: ListContainersRequest): ListContainersResponse {
    return statusList.listContainers(this, _ctx, req);
  }

  /** UpdateContainerResources: the spec first, then the running task; the spec is put back if the task refuses. */
  async updateContainerResources(
    callCtx: OpContext,
    req: UpdateContainerResourcesRequest,
  ): Promise<object> {
    return statusList.updateContainerResources(this, callCtx, req);
  }

  async reopenContainerLog(_ctx: OpContext, req: ReopenContainerLogRequest): Promise<object> {
    return execAttach.reopenContainerLog(this, _ctx, req);
  }

  async execSync(callCtx: OpContext, req: ExecSyncRequest): Promise<ExecSyncResponse> {
    return execAttach.execSync(this, callCtx, req);
  }

  exec(_ctx: OpContext, req: ExecRequest): ExecResponse {
    return execAttach.exec(this, _ctx, req);
  }

  attach(_ctx: OpContext, req: AttachRequest): AttachResponse {
    return execAttach.attach(this, _ctx, req);
  }

  /** The streaming server's exec: runs `cmd` in the container to its end; answers its exit code. */
  async execStream(containerId: string, cmd: string[], o: StreamOptions): Promise<number> {
    return execAttach.execStream(this, containerId, cmd, o);
  }

  /** The streaming server's attach: connects to the container's stdio until the client leaves. */
  async attachStream(containerId: string, o: StreamOptions): Promise<void> {
    return execAttach.attachStream(this, containerId, o);
  }

  async containerStats(
    callCtx: OpContext,
    req: ContainerStatsRequest,
  ): Promise<ContainerStatsResponse> {
    return stats.containerStats(this, callCtx, req);
  }

  async listContainerStats(
    callCtx: OpContext,
    req: ListContainerStatsRequest,
  ): Promise<ListContainerStatsResponse> {
    return stats.listContainerStats(this, callCtx, req);
  }

  /** Starts the `/tasks/oom` subscription; call once the store is recovered. */
  start(): void {
    lifecycle.watchOOM(this);
  }

  /** berthd stops: monitors and the OOM subscription end, IO is released; tasks and shims keep running. */
  async close(): Promise<void> {
    this.life.abort();
    await Promise.allSettled([...this.monitors]);
    await Promise.allSettled(this.store.list().map((c) => c.io?.release()));
  }

  track(p: Promise<void>): void {
    this.monitors.add(p);
    void p.finally(() => this.monitors.delete(p));
  }

  /**
   * Rebuilds the store from the container records and status files after a
   * restart (containerd's loadContainer): running tasks get their IO (the
   * same FIFOs, logging again) and an exit monitor back; tasks that ended
   * meanwhile are recorded as exited with the exit the task manager kept;
   * containers whose task vanished are exited with 255 `Unknown`.
   * Directories of containers without a record are removed.
   */
  async recover(callCtx: OpContext): Promise<void> {
    return recovery.recover(this, callCtx);
  }

  // The state and lookups the call files (create.ts, lifecycle.ts, ...) share.

  createIO(stateDir: string, config: ContainerConfig): Promise<ContainerIO> {
    return ContainerIO.create(join(stateDir, 'io'), {
      tty: config.tty,
      stdin: config.stdin,
      stdinOnce: config.stdinOnce,
      ...(this.opts.maxLogLineSize !== undefined && { maxLogLineSize: this.opts.maxLogLineSize }),
      log: this.opts.log,
    });
  }

  /**
   * The pid of the container a TARGET PID namespace names: it must be in
   * the same pod and running (containerd's validateTargetContainer).
   */
  targetPid(sandboxId: string, targetId: string): number {
    const t = this.store.get(targetId);
    if (t.sandboxId !== sandboxId) {
      throw invalidArgument(
        `container ${JSON.stringify(targetId)} (sandbox ${t.sandboxId}) does not belong to sandbox ${sandboxId}`,
      );
    }
    const s = t.status.get();
    if (stateOf(s) !== ContainerState.CONTAINER_RUNNING) {
      throw failedPrecondition(`container ${JSON.stringify(targetId)} is not running`);
    }
    return s.pid;
  }

  k8s(ctx: OpContext): OpContext {
    return ctx.namespace === K8S_NAMESPACE ? ctx : { ...ctx, namespace: K8S_NAMESPACE };
  }

  lifeCtx(log: Logger): OpContext {
    return { namespace: K8S_NAMESPACE, signal: this.life.signal, log };
  }

  detached(ctx: OpContext): OpContext {
    return { ...ctx, signal: new AbortController().signal };
  }

  container(idOrPrefix: string): CriContainer {
    try {
      return this.store.get(idOrPrefix);
    } catch (err) {
      throw withMessage(err, 'an error occurred when try to find container');
    }
  }

  running(idOrPrefix: string): CriContainer {
    const c = this.container(idOrPrefix);
    const state = stateOf(c.status.get());
    if (state !== ContainerState.CONTAINER_RUNNING) {
      throw failedPrecondition(`container is in ${stateName(state)} state`);
    }
    return c;
  }

  sandbox(idOrPrefix: string): SandboxInfo {
    try {
      return this.opts.sandboxes.get(idOrPrefix);
    } catch (err) {
      throw withMessage(err, `failed to find sandbox id ${JSON.stringify(idOrPrefix)}`);
    }
  }

  snapshotter(name: string): Snapshotter {
    const s = this.opts.snapshotters.get(name);
    if (!s) throw failedPrecondition(`snapshotter ${JSON.stringify(name)} is not available`);
    return s;
  }

  streaming(): StreamingUrls {
    if (!this.opts.streaming) throw unavailable('the streaming server is not running');
    return this.opts.streaming;
  }

  rootDirOf(id: string): string {
    return join(this.opts.rootDir, CONTAINERS_DIR, id);
  }

  stateDirOf(id: string): string {
    return join(this.opts.stateDir, CONTAINERS_DIR, id);
  }

  /** Removes the container's root and state directories, refusing anything outside the CRI's containers dirs. */
  removeDirsOf(id: string): void {
    removeTree(this.rootDirOf(id), join(this.opts.rootDir, CONTAINERS_DIR));
    removeTree(this.stateDirOf(id), join(this.opts.stateDir, CONTAINERS_DIR));
  }

  async withLease(ctx: OpContext, fn: (ctx: OpContext) => Promise<void>): Promise<void> {
    const leases = this.opts.leases;
    if (!leases || ctx.lease) return fn(ctx);
    const id = `cri-container-${randomBytes(8).toString('hex')}`;
    const expire = new Date(Date.now() + 24 * 3600 * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
    await leases.create(ctx, { id, labels: { [LEASE_EXPIRE_LABEL]: expire } });
    try {
      await fn({ ...ctx, lease: id });
    } finally {
      await leases
        .delete(this.detached(ctx), id)
        .catch((err) => ctx.log.warn({ err, lease: id }, 'deleting a temporary lease'));
    }
  }
}
