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
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { TaskOOM } from '../../api/containerd/events/task.js';
import {
  type AttachRequest,
  type AttachResponse,
  ContainerConfig,
  ContainerState,
  type ContainerStats,
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
import type {
  Container as ContainerRecord,
  ContainerStore as RecordStore,
} from '../../core/containers/index.js';
import {
  failedPrecondition,
  invalidArgument,
  isNotFound,
  notFound,
  unavailable,
} from '../../core/errdefs/index.js';
import type { Subscriber } from '../../core/events/index.js';
import { LEASE_EXPIRE_LABEL, type LeaseManager } from '../../core/leases/index.js';
import type { Logger } from '../../core/log/index.js';
import type { OpContext } from '../../core/namespaces/index.js';
import type { Snapshotter } from '../../core/snapshots/index.js';
import type { Exit, Task, TaskManager } from '../../core/tasks/index.js';
import { nowNanos } from '../../core/time/index.js';
import { type Handler, unary } from '../../server/service.js';
import { ContainerIO, execSync, runExec } from '../io/index.js';
import {
  buildContainerSpec,
  imageVolumeMounts,
  type OciSpec,
  type SpecHost,
  type SpecOptions,
} from '../opts/index.js';
import { applyResources } from '../opts/resources.js';
import { NameIndex } from '../store/index.js';
import { filterContainers, toCriContainer, toCriContainerStatus } from './convert.js';
import type {
  ImageLookup,
  SandboxInfo,
  SandboxLookup,
  StatsCollector,
  StreamingUrls,
  StreamOptions,
} from './deps.js';
import {
  bounded,
  cleanupOrphans,
  ignoreNotFound,
  splitReferences,
  withEnv,
  withMessage,
} from './helpers.js';
import {
  buildLabels,
  CONTAINER_KIND_CONTAINER,
  CONTAINER_KIND_LABEL,
  CONTAINER_METADATA_EXTENSION,
  type ContainerMetadata,
  decodeMetadata,
  encodeMetadata,
  makeContainerName,
  SPEC_TYPE_URL,
} from './metadata.js';
import { resourcesOfSpec } from './resources.js';
import { SnapshotFileReader } from './rootfs-reader.js';
import { parseSignal } from './signal.js';
import {
  newStatus,
  OOM_REASON,
  START_ERROR_EXIT_CODE,
  START_ERROR_REASON,
  type Status,
  StatusStorage,
  stateName,
  stateOf,
  UNKNOWN_EXIT_CODE,
  UNKNOWN_EXIT_REASON,
  unknownStatus,
} from './status.js';
import { ContainerStore, CriContainer } from './store.js';

/** The namespace CRI objects live in, as containerd keeps them. */
export const K8S_NAMESPACE = 'k8s.io';
const CONTAINERS_DIR = 'containers';
const SIGKILL = 9;
/** How long an exit waits by default for the container's output to be copied before its task goes. */
const OUTPUT_DRAIN_MS = 5_000;
const LINUX_RESOURCES_TYPE_URL = 'types.containerd.io/opencontainers/runtime-spec/1/LinuxResources';
/** Delays between attempts to record an exit that failed (containerd backs off likewise). */
const EXIT_RETRY_MS = [1000, 2000, 4000, 8000, 16000];

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
  private readonly life = new AbortController();
  private readonly monitors = new Set<Promise<void>>();

  constructor(private readonly opts: ContainerServiceOptions) {}

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

  // ------------------------------------------------------------ create

  /** CreateContainer: everything done is undone when a step fails. */
  async createContainer(
    callCtx: OpContext,
    req: CreateContainerRequest,
  ): Promise<CreateContainerResponse> {
    const ctx = this.k8s(callCtx);
    const config = req.config;
    if (!config?.metadata) throw invalidArgument('container config must include metadata');
    const sandbox = this.sandbox(req.podSandboxId);
    if (sandbox.state !== 'ready') {
      throw notFound(
        `failed to get sandbox container task: no running task found: task ${sandbox.id} not found`,
      );
    }
    const sandboxConfig = req.sandboxConfig ?? sandbox.config;
    const podMeta = sandboxConfig.metadata ??
      sandbox.config.metadata ?? { name: '', uid: '', namespace: '', attempt: 0 };
    const id = randomBytes(32).toString('hex');
    const name = makeContainerName(config.metadata, podMeta);
    const log = ctx.log.child({ container: id, name });
    const undo: (() => Promise<unknown> | unknown)[] = [];
    try {
      try {
        this.names.reserve(name, id);
      } catch (err) {
        throw withMessage(err, `failed to reserve container name ${JSON.stringify(name)}`);
      }
      undo.push(() => this.names.releaseByName(name));

      const imageRef = config.image?.image ?? '';
      const image = await this.opts.images.resolve(ctx, imageRef).catch((err) => {
        throw withMessage(err, `failed to resolve image ${JSON.stringify(imageRef)}`);
      });
      const imageConfig = image.config.config ?? {};
      const imageName = image.references[0] ?? image.id;

      const rootDir = this.rootDirOf(id);
      const stateDir = this.stateDirOf(id);
      await mkdir(rootDir, { recursive: true, mode: 0o755 });
      undo.push(() => rm(rootDir, { recursive: true, force: true }));
      await mkdir(stateDir, { recursive: true, mode: 0o755 });
      undo.push(() => rm(stateDir, { recursive: true, force: true }));

      // The pod's runtime and its options (runc's Root…), as containerd takes them from the sandbox's record.
      const sandboxRecord = await this.opts.records.get(ctx, sandbox.id).catch((err) => {
        throw withMessage(err, `failed to get sandbox ${JSON.stringify(sandbox.id)} info`);
      });
      const runtime = sandboxRecord.runtime;
      const snapshotter = this.snapshotter(this.opts.snapshotter);
      const volumeMounts = this.opts.ignoreImageDefinedVolumes
        ? []
        : imageVolumeMounts(rootDir, config.mounts, imageConfig, () =>
            randomBytes(32).toString('hex'),
          );
      const metadata: ContainerMetadata = {
        id,
        name,
        sandboxId: sandbox.id,
        config,
        imageRef: image.id,
        logPath:
          sandboxConfig.logDirectory !== '' && config.logPath !== ''
            ? join(sandboxConfig.logDirectory, config.logPath)
            : '',
        stopSignal: imageConfig.StopSignal ?? '',
      };

      let spec: OciSpec | undefined;
      await this.withLease(ctx, async (lctx) => {
        const mounts = await snapshotter.prepare(lctx, id, image.chainId);
        undo.push(() => snapshotter.remove(this.detached(ctx), id));
        const reader = new SnapshotFileReader(mounts, join(stateDir, 'rootfs-ro'));
        try {
          spec = await buildContainerSpec({
            id,
            sandbox: {
              id: sandbox.id,
              pid: sandbox.pid,
              config: sandboxConfig,
              dir: sandbox.dir,
              ...(sandbox.shmPath !== undefined && { shmPath: sandbox.shmPath }),
            },
            config,
            image: imageConfig,
            imageName,
            readRootfsFile: (path) => reader.readFile(path),
            volumeMounts,
            targetPid: async (target) => this.targetPid(sandbox.id, target),
            options: this.opts.spec.options,
            host: this.opts.spec.host,
          }).catch((err) => {
            throw withMessage(err, `failed to generate container ${JSON.stringify(id)} spec`);
          });
          // The image's content under each VOLUME goes into its fresh directory (containerd's WithVolumes).
          for (const v of volumeMounts) await reader.copyDirInto(v.containerPath, v.hostPath);
        } finally {
          reader.close();
        }
        await this.opts.records.create(lctx, {
          id,
          labels: buildLabels(config.labels, imageConfig.Labels, (k, err) =>
            log.warn({ err, label: k }, 'image label not added to the container'),
          ),
          image: imageName,
          runtime: { name: runtime.name, ...(runtime.options && { options: runtime.options }) },
          spec: { typeUrl: SPEC_TYPE_URL, value: Buffer.from(JSON.stringify(spec)) },
          snapshotter: this.opts.snapshotter,
          snapshotKey: id,
          sandbox: '',
          extensions: { [CONTAINER_METADATA_EXTENSION]: encodeMetadata(metadata) },
        });
        undo.push(() => this.opts.records.delete(this.detached(ctx), id));
      });
      if (!spec) throw new Error(`container ${id}: no spec was built`);

      const io = await this.createIO(stateDir, config);
      undo.push(() => io.close());
      const status = await StatusStorage.create(
        rootDir,
        newStatus({ createdAt: nowNanos(), resources: resourcesOfSpec(spec) }),
      );
      undo.push(() => status.delete());
      this.store.add(new CriContainer(metadata, status, io));
      log.debug('container created');
      return { containerId: id };
    } catch (err) {
      for (const fn of undo.reverse()) {
        try {
          await fn();
        } catch (e) {
          if (!isNotFound(e)) log.warn({ err: e }, 'undoing a failed CreateContainer');
        }
      }
      throw err;
    }
  }

  // ------------------------------------------------------------- start

  /** StartContainer: a failure leaves the container EXITED with `StartError` (128). */
  async startContainer(callCtx: OpContext, req: StartContainerRequest): Promise<object> {
    const ctx = this.k8s(callCtx);
    const c = this.container(req.containerId);
    const id = c.id;
    c.status.update((s) => {
      const state = stateOf(s);
      if (state !== ContainerState.CONTAINER_CREATED) {
        throw failedPrecondition(`container ${JSON.stringify(id)} is in ${stateName(state)} state`);
      }
      if (s.removing) {
        throw failedPrecondition(
          `container ${JSON.stringify(id)} is in removing state, can't be started`,
        );
      }
      if (s.starting) {
        throw failedPrecondition(`container ${JSON.stringify(id)} is already in starting state`);
      }
      return { ...s, starting: true };
    });
    let task: Task | undefined;
    try {
      const sandbox = this.sandbox(c.sandboxId);
      if (sandbox.state !== 'ready') {
        throw failedPrecondition(`sandbox container ${JSON.stringify(sandbox.id)} is not running`);
      }
      const record = await this.opts.records.get(ctx, id);
      if (!record.spec) throw failedPrecondition(`container ${JSON.stringify(id)} has no spec`);
      const io = c.io;
      if (!io) throw failedPrecondition(`container ${JSON.stringify(id)} has no IO`);
      const rootfs = await this.snapshotter(record.snapshotter).mounts(ctx, record.snapshotKey);
      // The log opens while the task is created: output waits in the FIFOs until it is read.
      const [logging, creating] = await Promise.allSettled([
        io.startLogging(c.metadata.logPath || undefined),
        this.opts.tasks.create(ctx, id, {
          spec: record.spec,
          runtime: record.runtime.name,
          ...(record.runtime.options && { runtimeOptions: record.runtime.options }),
          rootfs,
          io: io.io,
        }),
      ]);
      if (creating.status === 'fulfilled') task = creating.value.task;
      if (logging.status === 'rejected') throw logging.reason;
      if (creating.status === 'rejected') throw creating.reason;
      const created = creating.value;
      const exited = created.task.wait(this.lifeCtx(ctx.log));
      exited.catch(() => {});
      await created.task.start(ctx);
      await c.status.updateSync((s) => ({ ...s, pid: created.pid, startedAt: nowNanos() }));
      this.monitor(c, exited);
      return {};
    } catch (err) {
      if (task) await this.deleteTask(this.detached(ctx), id, true).catch(() => {});
      await c.status
        .updateSync((s) => ({
          ...s,
          pid: 0,
          finishedAt: nowNanos(),
          exitCode: START_ERROR_EXIT_CODE,
          reason: START_ERROR_REASON,
          message: (err as Error).message,
        }))
        .catch((e) => ctx.log.error({ err: e, container: id }, 'recording a start failure'));
      c.stop();
      throw err;
    } finally {
      c.status.update((s) => ({ ...s, starting: false }));
    }
  }

  // -------------------------------------------------------------- stop

  async stopContainer(callCtx: OpContext, req: StopContainerRequest): Promise<object> {
    const c = this.container(req.containerId);
    await this.stop(this.k8s(callCtx), c, Number(req.timeout) * 1000);
    return {};
  }

  /**
   * Stops a running (or unknown) container: its stop signal, `timeoutMs`
   * to exit, then SIGKILL; answers once the exit is recorded. A container
   * in any other state is left as it is.
   */
  async stop(ctx: OpContext, c: CriContainer, timeoutMs: number): Promise<void> {
    const id = c.id;
    const state = stateOf(c.status.get());
    if (state !== ContainerState.CONTAINER_RUNNING && state !== ContainerState.CONTAINER_UNKNOWN) {
      return;
    }
    let task: Task;
    try {
      task = this.opts.tasks.get(ctx, id);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      if (state === ContainerState.CONTAINER_UNKNOWN) {
        await this.handleExit(ctx, c, { pid: 0, status: UNKNOWN_EXIT_CODE, exitedAt: nowNanos() });
      }
      return;
    }
    if (state === ContainerState.CONTAINER_UNKNOWN && !c.isStopped) {
      const exited = task.wait(this.lifeCtx(ctx.log));
      exited.catch(() => {});
      this.monitor(c, exited);
    }
    if (timeoutMs > 0) {
      const signal = parseSignal(await this.stopSignalOf(ctx, c));
      if (!c.stopSignaled) {
        c.stopSignaled = true;
        ctx.log.info({ container: id, signal }, 'stopping container');
        await task.kill(ctx, signal, false).catch(ignoreNotFound);
      }
      if (await this.waitStopped(ctx, c, timeoutMs)) return;
    }
    ctx.log.info({ container: id }, 'killing container');
    await task.kill(ctx, SIGKILL, false).catch(ignoreNotFound);
    await this.waitStopped(ctx, c, undefined);
  }

  private async stopSignalOf(ctx: OpContext, c: CriContainer): Promise<string> {
    if (c.metadata.stopSignal !== '') return c.metadata.stopSignal;
    const image = await this.opts.images.resolve(ctx, c.metadata.imageRef).catch(ignoreNotFound);
    return image?.config.config?.StopSignal || 'SIGTERM';
  }

  /** True once `c` stopped; false after `timeoutMs`; throws when the call is cancelled. */
  private waitStopped(
    ctx: OpContext,
    c: CriContainer,
    timeoutMs: number | undefined,
  ): Promise<boolean> {
    if (c.isStopped) return Promise.resolve(true);
    return new Promise((resolve, reject) => {
      const finish = (fn: () => void) => {
        clearTimeout(timer);
        ctx.signal.removeEventListener('abort', onAbort);
        fn();
      };
      const timer =
        timeoutMs === undefined
          ? undefined
          : setTimeout(() => finish(() => resolve(false)), timeoutMs);
      const onAbort = () =>
        finish(() => reject(ctx.signal.reason ?? new Error(`wait container ${c.id}: canceled`)));
      if (ctx.signal.aborted) return onAbort();
      ctx.signal.addEventListener('abort', onAbort, { once: true });
      void c.stopped.then(() => finish(() => resolve(true)));
    });
  }

  // ------------------------------------------------------------ remove

  /** RemoveContainer: idempotent; a running container is killed first. */
  async removeContainer(callCtx: OpContext, req: RemoveContainerRequest): Promise<object> {
    const ctx = this.k8s(callCtx);
    let c: CriContainer;
    try {
      c = this.store.get(req.containerId);
    } catch (err) {
      if (isNotFound(err)) return {};
      throw err;
    }
    await this.remove(ctx, c);
    return {};
  }

  /** Removes a container (killing it first if it runs): task, record, snapshot, FIFOs, status, dirs. */
  async remove(ctx: OpContext, c: CriContainer): Promise<void> {
    const id = c.id;
    let record: ContainerRecord;
    try {
      record = await this.opts.records.get(ctx, id);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      ctx.log.warn({ container: id }, 'container record gone; forgetting the container');
      await c.io?.close().catch(() => {});
      this.forget(id);
      return;
    }
    const state = stateOf(c.status.get());
    if (state === ContainerState.CONTAINER_RUNNING || state === ContainerState.CONTAINER_UNKNOWN) {
      ctx.log.info({ container: id }, 'forcibly stopping container');
      await this.stop(ctx, c, 0);
    }
    c.status.update((s) => {
      const st = stateOf(s);
      if (st === ContainerState.CONTAINER_RUNNING) {
        throw failedPrecondition(`container ${JSON.stringify(id)} is still running, to stop first`);
      }
      if (st === ContainerState.CONTAINER_UNKNOWN) {
        throw failedPrecondition(`container ${JSON.stringify(id)} state is unknown, to stop first`);
      }
      if (s.starting) {
        throw failedPrecondition(
          `container ${JSON.stringify(id)} is in starting state, can't be removed`,
        );
      }
      if (s.removing) {
        throw failedPrecondition(`container ${JSON.stringify(id)} is already in removing state`);
      }
      return { ...s, removing: true };
    });
    try {
      await this.deleteTask(ctx, id, true);
      await this.opts.records.delete(ctx, id).catch(ignoreNotFound);
      if (record.snapshotKey !== '') {
        await this.snapshotter(record.snapshotter)
          .remove(ctx, record.snapshotKey)
          .catch(ignoreNotFound);
      }
      await c.io?.close();
      c.io = undefined;
      await c.status.delete();
      await rm(this.rootDirOf(id), { recursive: true, force: true });
      await rm(this.stateDirOf(id), { recursive: true, force: true });
    } catch (err) {
      c.status.update((s) => ({ ...s, removing: false }));
      throw withMessage(err, `failed to remove container ${JSON.stringify(id)}`);
    }
    this.forget(id);
  }

  private forget(id: string): void {
    this.store.delete(id);
    this.names.releaseByKey(id);
    this.opts.stats?.forget(id);
  }

  /** Stops every container of a pod (StopPodSandbox): SIGKILL at once, as containerd does. */
  async stopAll(ctx: OpContext, sandboxId: string): Promise<void> {
    const k = this.k8s(ctx);
    const list = this.store.list().filter((c) => c.sandboxId === sandboxId);
    await Promise.all(list.map((c) => this.stop(k, c, 0)));
  }

  /** Removes every container of a pod (RemovePodSandbox). */
  async removeAll(ctx: OpContext, sandboxId: string): Promise<void> {
    const k = this.k8s(ctx);
    for (const c of this.store.list().filter((c) => c.sandboxId === sandboxId)) {
      await this.remove(k, c);
    }
  }

  // ------------------------------------------------------------ status

  async containerStatus(
    callCtx: OpContext,
    req: ContainerStatusRequest,
  ): Promise<ContainerStatusResponse> {
    const ctx = this.k8s(callCtx);
    const c = this.container(req.containerId);
    let image = c.metadata.config.image;
    let imageRef = c.metadata.imageRef;
    const found = await this.opts.images.resolve(ctx, imageRef).catch(ignoreNotFound);
    if (found) {
      const { repoTags, repoDigests } = splitReferences(found.references);
      if (repoTags[0]) image = { image: repoTags[0], annotations: {} };
      if (repoDigests[0]) imageRef = repoDigests[0];
    }
    const status = toCriContainerStatus(c, image, imageRef);
    const info: Record<string, string> = {};
    if (req.verbose) info.info = JSON.stringify(await this.verboseInfo(ctx, c));
    return { status, info };
  }

  /** containerd's ContainerInfo (`crictl inspect`'s `info`). */
  private async verboseInfo(ctx: OpContext, c: CriContainer): Promise<object> {
    const s = c.status.get();
    const record = await this.opts.records.get(ctx, c.id);
    return {
      sandboxID: c.sandboxId,
      pid: s.pid,
      removing: s.removing,
      snapshotKey: record.snapshotKey,
      snapshotter: record.snapshotter,
      runtimeType: record.runtime.name,
      runtimeOptions: record.runtime.options ? { typeUrl: record.runtime.options.typeUrl } : null,
      config: ContainerConfig.toJSON(c.metadata.config),
      runtimeSpec: record.spec ? JSON.parse(Buffer.from(record.spec.value).toString('utf8')) : null,
    };
  }

  listContainers(_ctx: OpContext, req: ListContainersRequest): ListContainersResponse {
    const f = req.filter;
    const all = this.store.list().map(toCriContainer);
    if (!f) return { containers: all };
    return {
      containers: filterContainers(all, {
        ...f,
        id: f.id && (this.store.find(f.id)?.id ?? f.id),
        podSandboxId: f.podSandboxId && this.sandboxIdOf(f.podSandboxId),
      }),
    };
  }

  private sandboxIdOf(idOrPrefix: string): string {
    try {
      return this.opts.sandboxes.get(idOrPrefix).id;
    } catch {
      return idOrPrefix;
    }
  }

  // ----------------------------------------------------------- update

  /** UpdateContainerResources: the spec first, then the running task; the spec is put back if the task refuses. */
  async updateContainerResources(
    callCtx: OpContext,
    req: UpdateContainerResourcesRequest,
  ): Promise<object> {
    const ctx = this.k8s(callCtx);
    const c = this.container(req.containerId);
    this.sandbox(c.sandboxId);
    if (c.status.get().removing) {
      throw failedPrecondition(`container ${JSON.stringify(c.id)} is in removing state`);
    }
    const record = await this.opts.records.get(ctx, c.id);
    const specAny = record.spec;
    if (!specAny) throw failedPrecondition(`container ${JSON.stringify(c.id)} has no spec`);
    const oldSpec: OciSpec = JSON.parse(Buffer.from(specAny.value).toString('utf8'));
    const newSpec: OciSpec = structuredClone(oldSpec);
    newSpec.linux ??= {} as OciSpec['linux'];
    try {
      applyResources(newSpec, req.linux, this.opts.spec.options);
    } catch (err) {
      throw withMessage(err, 'failed to update resource in spec');
    }
    const put = (spec: OciSpec, cx: OpContext) =>
      this.opts.records.update(
        cx,
        { ...record, spec: { typeUrl: specAny.typeUrl, value: Buffer.from(JSON.stringify(spec)) } },
        ['spec'],
      );
    await put(newSpec, ctx);
    try {
      if (stateOf(c.status.get()) === ContainerState.CONTAINER_RUNNING) {
        let task: Task | undefined;
        try {
          task = this.opts.tasks.get(ctx, c.id);
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
        await task
          ?.update(
            ctx,
            {
              typeUrl: LINUX_RESOURCES_TYPE_URL,
              value: Buffer.from(JSON.stringify(newSpec.linux?.resources ?? {})),
            },
            {},
          )
          .catch(ignoreNotFound);
      }
      await c.status.updateSync((s) => ({ ...s, resources: resourcesOfSpec(newSpec) }));
    } catch (err) {
      await put(oldSpec, this.detached(ctx)).catch((e) =>
        ctx.log.error({ err: e, container: c.id }, 'restoring the spec after a failed update'),
      );
      throw withMessage(err, 'failed to update resources');
    }
    return {};
  }

  // -------------------------------------------------------------- logs

  async reopenContainerLog(_ctx: OpContext, req: ReopenContainerLogRequest): Promise<object> {
    const c = this.container(req.containerId);
    if (stateOf(c.status.get()) !== ContainerState.CONTAINER_RUNNING) {
      throw failedPrecondition('container is not running');
    }
    if (!c.io) throw failedPrecondition(`container ${JSON.stringify(c.id)} has no IO`);
    await c.io.reopenLog();
    return {};
  }

  // ------------------------------------------------------ exec, attach

  async execSync(callCtx: OpContext, req: ExecSyncRequest): Promise<ExecSyncResponse> {
    const ctx = this.k8s(callCtx);
    const timeoutMs = Number(req.timeout) * 1000;
    try {
      const x = await this.execSetup(ctx, req.containerId, req.cmd, false);
      return await execSync(x.task, x.execId, x.process, {
        ctx,
        dir: x.dir,
        ...(timeoutMs > 0 && { timeoutMs }),
        log: ctx.log,
      });
    } catch (err) {
      throw withMessage(err, 'failed to exec in container');
    }
  }

  exec(_ctx: OpContext, req: ExecRequest): ExecResponse {
    this.running(req.containerId);
    return this.streaming().getExec(req);
  }

  attach(_ctx: OpContext, req: AttachRequest): AttachResponse {
    this.running(req.containerId);
    return this.streaming().getAttach(req);
  }

  /** The streaming server's exec: runs `cmd` in the container to its end; answers its exit code. */
  async execStream(containerId: string, cmd: string[], o: StreamOptions): Promise<number> {
    const ctx = this.lifeCtx(this.opts.log);
    const x = await this.execSetup(ctx, containerId, cmd, o.tty);
    return runExec(x.task, x.execId, x.process, { ...o, ctx, dir: x.dir, log: ctx.log });
  }

  /** The streaming server's attach: connects to the container's stdio until the client leaves. */
  async attachStream(containerId: string, o: StreamOptions): Promise<void> {
    const ctx = this.lifeCtx(this.opts.log);
    const c = this.running(containerId);
    const task = this.opts.tasks.get(ctx, c.id);
    if (!c.io) throw failedPrecondition(`container ${JSON.stringify(c.id)} has no IO`);
    await c.io.attach({
      ...o,
      closeStdin: () => task.closeIO(ctx),
      resizePty: (s) => task.resizePty(ctx, s.width, s.height),
    });
  }

  /** An exec's process: the container's, with `cmd` (containerd's execInternal). */
  private async execSetup(
    ctx: OpContext,
    containerId: string,
    cmd: string[],
    tty: boolean,
  ): Promise<{ task: Task; process: Record<string, unknown>; execId: string; dir: string }> {
    if (cmd.length === 0) throw invalidArgument('exec command must not be empty');
    const c = this.running(containerId);
    const record = await this.opts.records.get(ctx, c.id);
    const task = this.opts.tasks.get(ctx, c.id);
    if (!c.io) throw failedPrecondition(`container ${JSON.stringify(c.id)} has no IO`);
    const spec: Partial<OciSpec> = record.spec
      ? JSON.parse(Buffer.from(record.spec.value).toString('utf8'))
      : {};
    const process: Record<string, any> = { ...(spec.process ?? {}) };
    process.terminal = tty;
    process.args = cmd;
    delete process.commandLine;
    if (tty) process.env = withEnv(process.env ?? [], 'TERM=xterm');
    return { task, process, execId: randomBytes(32).toString('hex'), dir: c.io.dir };
  }

  // -------------------------------------------------------------- stats

  async containerStats(
    callCtx: OpContext,
    req: ContainerStatsRequest,
  ): Promise<ContainerStatsResponse> {
    const ctx = this.k8s(callCtx);
    const c = this.container(req.containerId);
    // One container's stats come from its task's metrics (containerd: "unexpected metrics response" without).
    try {
      this.opts.tasks.get(ctx, c.id);
    } catch (err) {
      throw withMessage(err, `failed to fetch metrics for container ${JSON.stringify(c.id)}`);
    }
    return { stats: await this.statsOf(ctx, c) };
  }

  async listContainerStats(
    callCtx: OpContext,
    req: ListContainerStatsRequest,
  ): Promise<ListContainerStatsResponse> {
    const ctx = this.k8s(callCtx);
    const f = req.filter;
    let list = this.store.list();
    if (f) {
      const picked = filterContainers(
        list.map((c) => ({
          id: c.id,
          podSandboxId: c.sandboxId,
          labels: c.metadata.config.labels,
          c,
        })),
        {
          id: f.id && (this.store.find(f.id)?.id ?? f.id),
          podSandboxId: f.podSandboxId && this.sandboxIdOf(f.podSandboxId),
          labelSelector: f.labelSelector,
        },
      );
      list = picked.map((p) => p.c);
    }
    // One shim call per container, all at once (containerd asks for every task's metrics in one call).
    return { stats: await Promise.all(list.map((c) => this.statsOf(ctx, c))) };
  }

  private async statsOf(ctx: OpContext, c: CriContainer): Promise<ContainerStats> {
    if (!this.opts.stats) throw unavailable('container stats are not available');
    let task: Task | undefined;
    try {
      task = this.opts.tasks.get(ctx, c.id);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    const cfg = c.metadata.config;
    return this.opts.stats.collect(
      ctx,
      {
        id: c.id,
        ...(cfg.metadata && { metadata: cfg.metadata }),
        labels: cfg.labels,
        annotations: cfg.annotations,
      },
      task,
    );
  }

  // ------------------------------------------------------ exit handling

  /** Starts the `/tasks/oom` subscription; call once the store is recovered. */
  start(): void {
    const events = this.opts.events;
    if (!events) return;
    const ctx = this.lifeCtx(this.opts.log);
    const run = (async () => {
      try {
        for await (const e of events.subscribe(ctx, [
          `topic=="/tasks/oom",namespace=="${K8S_NAMESPACE}"`,
        ])) {
          const { containerId } = TaskOOM.decode(e.event.value);
          const c = this.store.find(containerId);
          if (!c || c.id !== containerId) continue;
          this.opts.log.info({ container: containerId }, 'container OOM');
          await c.status
            .updateSync((s) => ({ ...s, reason: OOM_REASON }))
            .catch((err) =>
              this.opts.log.error({ err, container: containerId }, 'recording an OOM'),
            );
        }
      } catch (err) {
        if (!this.life.signal.aborted) {
          this.opts.log.error({ err }, 'the OOM event subscription ended');
        }
      }
    })();
    this.track(run);
  }

  /** berthd stops: monitors and the OOM subscription end, IO is released; tasks and shims keep running. */
  async close(): Promise<void> {
    this.life.abort();
    await Promise.allSettled([...this.monitors]);
    await Promise.allSettled(this.store.list().map((c) => c.io?.release()));
  }

  private monitor(c: CriContainer, exited: Promise<Exit>): void {
    const run = (async () => {
      let exit: Exit;
      try {
        exit = await exited;
      } catch (err) {
        if (this.life.signal.aborted) return;
        this.opts.log.error({ err, container: c.id }, 'waiting for the container task');
        exit = { pid: 0, status: UNKNOWN_EXIT_CODE, exitedAt: nowNanos() };
      }
      const ctx = this.lifeCtx(this.opts.log);
      for (let attempt = 0; ; attempt++) {
        try {
          await this.handleExit(ctx, c, exit);
          return;
        } catch (err) {
          const delay = EXIT_RETRY_MS[attempt];
          this.opts.log.error({ err, container: c.id }, 'handling the container exit');
          if (delay === undefined || this.life.signal.aborted) return;
          await new Promise((r) => setTimeout(r, delay));
        }
      }
    })();
    this.track(run);
  }

  private track(p: Promise<void>): void {
    this.monitors.add(p);
    void p.finally(() => this.monitors.delete(p));
  }

  /** Records an exit: output drained, the task deleted (its shim goes), then EXITED. */
  private async handleExit(ctx: OpContext, c: CriContainer, exit: Exit): Promise<void> {
    if (c.io) await bounded(c.io.wait(), this.opts.outputDrainMs ?? OUTPUT_DRAIN_MS);
    // A real exit needs no kill (and no state call); an exit made up when waiting failed might.
    await this.deleteTask(ctx, c.id, exit.pid === 0);
    await c.status.updateSync((s) => {
      const next: Status = { ...s, unknown: false };
      if (s.finishedAt === 0n) {
        next.pid = 0;
        // The shim's exit time can precede the start time taken once Start answered.
        next.finishedAt = exit.exitedAt || nowNanos();
        if (next.finishedAt < s.startedAt) next.finishedAt = s.startedAt;
        next.exitCode = exit.status;
      }
      return next;
    });
    c.stop();
  }

  /** Deletes the container's task, killing it first when asked; a missing task is fine. */
  private async deleteTask(ctx: OpContext, id: string, kill: boolean): Promise<void> {
    let task: Task;
    try {
      task = this.opts.tasks.get(ctx, id);
    } catch (err) {
      if (isNotFound(err)) return;
      throw err;
    }
    if (kill) {
      const st = await task.state(ctx).catch(() => undefined);
      if (st && st.status !== 'stopped') {
        const exited = task.wait(ctx).catch(() => undefined);
        await task.kill(ctx, SIGKILL, true).catch(ignoreNotFound);
        await exited;
      }
    }
    await this.opts.tasks.delete(ctx, id).catch(ignoreNotFound);
  }

  // ----------------------------------------------------------- recovery

  /**
   * Rebuilds the store from the container records and status files after a
   * restart (containerd's loadContainer): running tasks get their IO (the
   * same FIFOs, logging again) and an exit monitor back; tasks that ended
   * meanwhile are recorded as exited with the exit the task manager kept;
   * containers whose task vanished are exited with 255 `Unknown`.
   * Directories of containers without a record are removed.
   */
  async recover(callCtx: OpContext): Promise<void> {
    const ctx = this.k8s(callCtx);
    const records = await this.opts.records.list(ctx, [
      `labels."${CONTAINER_KIND_LABEL}"==${CONTAINER_KIND_CONTAINER}`,
    ]);
    for (const record of records) {
      try {
        const c = await this.load(ctx, record);
        this.store.add(c);
        this.names.reserve(c.metadata.name, c.id);
      } catch (err) {
        ctx.log.error({ err, container: record.id }, 'failed to load container');
      }
    }
    const ids = new Set(records.map((r) => r.id));
    for (const base of [
      join(this.opts.rootDir, CONTAINERS_DIR),
      join(this.opts.stateDir, CONTAINERS_DIR),
    ]) {
      await cleanupOrphans(base, ids, ctx.log);
    }
  }

  private async load(ctx: OpContext, record: ContainerRecord): Promise<CriContainer> {
    const ext = record.extensions[CONTAINER_METADATA_EXTENSION];
    if (!ext) throw notFound(`metadata extension ${JSON.stringify(CONTAINER_METADATA_EXTENSION)}`);
    const meta = decodeMetadata(ext);
    const id = record.id;
    const rootDir = this.rootDirOf(id);
    const stateDir = this.stateDirOf(id);
    let status: Status;
    try {
      status = await StatusStorage.load(rootDir);
    } catch (err) {
      ctx.log.warn({ err, container: id }, 'failed to load container status');
      status = unknownStatus();
    }
    let io: ContainerIO | undefined;
    let exited: Promise<Exit> | undefined;
    try {
      let task: Task | undefined;
      try {
        task = this.opts.tasks.get(ctx, id);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      const st = task && (await task.state(ctx).catch(ignoreNotFound));
      const state = stateOf(status);
      if (!task || !st) {
        if (state === ContainerState.CONTAINER_CREATED) {
          io = await this.createIO(stateDir, meta.config);
        } else if (state === ContainerState.CONTAINER_RUNNING) {
          status = {
            ...status,
            pid: 0,
            finishedAt: nowNanos(),
            exitCode: UNKNOWN_EXIT_CODE,
            reason: UNKNOWN_EXIT_REASON,
          };
        }
      } else if (st.status === 'created') {
        // A task created but never started: containerd deletes it; the container may start again.
        await this.deleteTask(ctx, id, true);
        if (state !== ContainerState.CONTAINER_CREATED) {
          throw failedPrecondition(
            `unexpected container state for created task: ${stateName(state)}`,
          );
        }
        io = await this.createIO(stateDir, meta.config);
      } else if (st.status === 'stopped') {
        await this.deleteTask(ctx, id, false);
        if (status.finishedAt === 0n) {
          status = {
            ...status,
            pid: 0,
            finishedAt: st.exitedAt || nowNanos(),
            exitCode: st.exitStatus,
          };
        }
      } else {
        if (state === ContainerState.CONTAINER_EXITED) {
          throw failedPrecondition('unexpected container state for running task: CONTAINER_EXITED');
        }
        if (state !== ContainerState.CONTAINER_RUNNING) {
          status = { ...status, startedAt: nowNanos(), pid: st.pid };
        }
        io = await this.createIO(stateDir, meta.config);
        await io.startLogging(meta.logPath || undefined);
        exited = task.wait(this.lifeCtx(ctx.log));
        exited.catch(() => {});
      }
    } catch (err) {
      ctx.log.error({ err, container: id }, 'failed to load container status');
      status = { ...status, unknown: true };
    }
    await mkdir(rootDir, { recursive: true });
    const storage = await StatusStorage.create(rootDir, status);
    const c = new CriContainer(meta, storage, io);
    if (stateOf(status) === ContainerState.CONTAINER_EXITED) c.stop();
    if (exited) this.monitor(c, exited);
    return c;
  }

  // ------------------------------------------------------------ helpers

  private createIO(stateDir: string, config: ContainerConfig): Promise<ContainerIO> {
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
  private targetPid(sandboxId: string, targetId: string): number {
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

  private k8s(ctx: OpContext): OpContext {
    return ctx.namespace === K8S_NAMESPACE ? ctx : { ...ctx, namespace: K8S_NAMESPACE };
  }

  private lifeCtx(log: Logger): OpContext {
    return { namespace: K8S_NAMESPACE, signal: this.life.signal, log };
  }

  private detached(ctx: OpContext): OpContext {
    return { ...ctx, signal: new AbortController().signal };
  }

  private container(idOrPrefix: string): CriContainer {
    try {
      return this.store.get(idOrPrefix);
    } catch (err) {
      throw withMessage(err, 'an error occurred when try to find container');
    }
  }

  private running(idOrPrefix: string): CriContainer {
    const c = this.container(idOrPrefix);
    const state = stateOf(c.status.get());
    if (state !== ContainerState.CONTAINER_RUNNING) {
      throw failedPrecondition(`container is in ${stateName(state)} state`);
    }
    return c;
  }

  private sandbox(idOrPrefix: string): SandboxInfo {
    try {
      return this.opts.sandboxes.get(idOrPrefix);
    } catch (err) {
      throw withMessage(err, `failed to find sandbox id ${JSON.stringify(idOrPrefix)}`);
    }
  }

  private snapshotter(name: string): Snapshotter {
    const s = this.opts.snapshotters.get(name);
    if (!s) throw failedPrecondition(`snapshotter ${JSON.stringify(name)} is not available`);
    return s;
  }

  private streaming(): StreamingUrls {
    if (!this.opts.streaming) throw unavailable('the streaming server is not running');
    return this.opts.streaming;
  }

  private rootDirOf(id: string): string {
    return join(this.opts.rootDir, CONTAINERS_DIR, id);
  }

  private stateDirOf(id: string): string {
    return join(this.opts.stateDir, CONTAINERS_DIR, id);
  }

  private async withLease(ctx: OpContext, fn: (ctx: OpContext) => Promise<void>): Promise<void> {
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
