import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import type {
  ContainerStats,
  NetworkInterfaceUsage,
  PodSandbox,
  PodSandboxConfig,
  PodSandboxFilter,
  PodSandboxStats,
  PodSandboxStatsFilter,
  PodSandboxStatus,
} from '../../api/k8s/cri/runtime/v1/api.js';
import type { AnyValue, Container, ContainerStore } from '../../core/containers/index.js';
import {
  failedPrecondition,
  invalidArgument,
  isNotFound,
  newError,
} from '../../core/errdefs/index.js';
import { LEASE_EXPIRE_LABEL, type LeaseManager } from '../../core/leases/index.js';
import type { Logger } from '../../core/log/index.js';
import type { Mount } from '../../core/mount/index.js';
import type { OpContext } from '../../core/namespaces/index.js';
import type { Snapshotter } from '../../core/snapshots/index.js';
import type { Task, TaskManager } from '../../core/tasks/index.js';
import { nowNanos } from '../../core/time/index.js';
import { createNetns, removeNetns } from '../../sys/netns.js';
import { removeTree } from '../../sys/remove-tree.js';
import { buildSandboxSpec, realSpecHost, type SpecOptions } from '../opts/index.js';
import { NameIndex } from '../store/index.js';
import { hostIpc, hostNetwork, mountShm, unmountShm, writeSandboxFiles } from './files.js';
import { filterSandboxes } from './filters.js';
import type { SandboxImage, SandboxImages } from './image.js';
import {
  decodeSandboxMetadata,
  encodeSandboxMetadata,
  KIND_LABEL,
  KIND_SANDBOX,
  SANDBOX_METADATA_EXTENSION,
} from './metadata.js';
import { POD_IF_NAME, type PodNetworks, podNetworkRequest, selectPodIps } from './network.js';
import {
  noCgroupParent,
  type PodCgroupSample,
  parseNetDev,
  samplePodCgroup,
  toCriUsage,
} from './pod-stats.js';
import { dialHost, dialInNetns, pipeBoth } from './port-forward.js';
import { makeSandboxName, Sandbox, type SandboxMetadata } from './sandbox.js';
import { toCriSandbox, toCriSandboxStatus, verboseSandboxInfo } from './status.js';
import { SandboxStore } from './store.js';
import { bigintReplacer, delay, ignoreNotFound, listDir, withContext } from './util.js';

/** The namespace every CRI object lives in, as containerd's. */
export const CRI_NAMESPACE = 'k8s.io';
/** The OCI runtime spec's type URL in container records. */
export const SPEC_TYPE_URL = 'types.containerd.io/opencontainers/runtime-spec/1/Spec';
const SIGKILL = 9;
const LEASE_TTL_MS = 24 * 3600 * 1000;
/** How long StopPodSandbox waits for a SIGKILLed pause to be reported gone. */
const STOP_WAIT_MS = 10_000;

/**
 * What the sandbox part asks of the container part when a pod stops or
 * goes: its containers stopped (forcibly, timeout 0) or removed. cri-ctr
 * provides it; without it a pod has no containers to act on.
 */
export interface PodContainers {
  stopAll(ctx: OpContext, sandboxId: string): Promise<void>;
  removeAll(ctx: OpContext, sandboxId: string): Promise<void>;
  /** The stats of the pod's containers (for PodSandboxStats). */
  stats?(ctx: OpContext, sandboxId: string): Promise<ContainerStats[]>;
  /** The processes of the pod's running containers (PodSandboxStats' process count). */
  processCount?(ctx: OpContext, sandboxId: string): Promise<number>;
}

/** The runtime of a runtime handler (the CRI config's `containerd.runtimes`). */
export interface SandboxRuntime {
  /** `io.containerd.runc.v2`. */
  type: string;
  /** The runtime's options (runc's, Root under berthd's state). */
  options?: AnyValue;
}

export interface SandboxManagerOptions {
  /** The runtime for a handler ('' is the default one); `not_found` for one not configured. */
  runtime(handler: string): SandboxRuntime;
  containers: ContainerStore;
  snapshotter: Snapshotter;
  snapshotterName: string;
  tasks: TaskManager;
  leases: LeaseManager;
  images: SandboxImages;
  /** The pod network; undefined leaves pods without one (only host-network pods run). */
  network: PodNetworks | undefined;
  /** `<root>/io.containerd.grpc.v1.cri`. */
  rootDir: string;
  /** `<state>/io.containerd.grpc.v1.cri`. */
  stateDir: string;
  sandboxImage: string;
  /** What the specs are built with (cri-spec): the CRI config's switches and the host's facts. */
  specOptions: SpecOptions;
  log: Logger;
}

/**
 * Pod sandboxes as containerd's CRI runs them: a pause container in
 * namespace k8s.io with its record, snapshot and task, a pinned network
 * namespace with the pod's CNI network, and the files its containers share.
 */
export class SandboxManager {
  readonly store = new SandboxStore();
  readonly names = new NameIndex();
  /** Set by the plugin once the container part exists. */
  podContainers: PodContainers | undefined;
  readonly #locks = new Map<string, Promise<void>>();
  /** Each pod's last cgroup sample, for the CPU rate. */
  readonly #podSamples = new Map<string, PodCgroupSample>();
  readonly #bg: OpContext;

  constructor(private readonly opts: SandboxManagerOptions) {
    this.#bg = { namespace: CRI_NAMESPACE, signal: new AbortController().signal, log: opts.log };
  }

  get netnsDir(): string {
    return join(this.opts.stateDir, 'netns');
  }

  sandboxDir(id: string): string {
    return join(this.opts.rootDir, 'sandboxes', id);
  }

  sandboxStateDir(id: string): string {
    return join(this.opts.stateDir, 'sandboxes', id);
  }

  /** RunPodSandbox: everything done is undone when a step fails. */
  async run(
    ctx: OpContext,
    config: PodSandboxConfig | undefined,
    runtimeHandler: string,
  ): Promise<string> {
    if (config?.metadata === undefined)
      throw invalidArgument('sandbox config must include metadata');
    if (config.metadata.name === '') throw invalidArgument('sandbox config must include a name');
    const runtime = this.opts.runtime(runtimeHandler);
    const id = randomBytes(32).toString('hex');
    const name = makeSandboxName(config.metadata);
    const log = this.opts.log.child({ sandbox: id, name });
    try {
      this.names.reserve(name, id);
    } catch (err) {
      throw newError(
        'already_exists',
        `failed to reserve sandbox name ${JSON.stringify(name)}: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    const undo: { what: string; fn: () => Promise<void> | void }[] = [
      { what: 'name reservation', fn: () => this.names.releaseByName(name) },
    ];
    try {
      return await this.#run(ctx, id, name, config, runtimeHandler, runtime, undo);
    } catch (err) {
      for (const step of undo.reverse()) {
        try {
          await step.fn();
        } catch (cleanupErr) {
          log.warn({ err: cleanupErr }, `undoing a failed RunPodSandbox: ${step.what}`);
        }
      }
      throw err;
    }
  }

  async #run(
    ctx: OpContext,
    id: string,
    name: string,
    config: PodSandboxConfig,
    runtimeHandler: string,
    runtime: SandboxRuntime,
    undo: { what: string; fn: () => Promise<void> | void }[],
  ): Promise<string> {
    const { opts } = this;
    const t0 = performance.now();
    const steps: Record<string, number> = {};
    const mark = (step: string) => {
      steps[step] = Math.round(performance.now() - t0);
    };
    const image = await opts.images.ensure(ctx, opts.sandboxImage).catch((err: Error) => {
      throw withContext(err, `failed to get sandbox image ${JSON.stringify(opts.sandboxImage)}`);
    });

    mark('image');
    const dir = this.sandboxDir(id);
    const stateDir = this.sandboxStateDir(id);
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    undo.push({ what: 'sandbox root dir', fn: () => removeTree(dir, opts.rootDir) });
    mkdirSync(stateDir, { recursive: true, mode: 0o755 });
    undo.push({ what: 'sandbox state dir', fn: () => removeTree(stateDir, opts.stateDir) });
    writeSandboxFiles(dir, config);
    let shmPath: string | undefined;
    if (!hostIpc(config)) {
      shmPath = join(stateDir, 'shm');
      mountShm(shmPath);
      undo.push({ what: 'shm mount', fn: () => unmountShm(shmPath as string) });
    }

    const md: SandboxMetadata = {
      id,
      name,
      config,
      netnsPath: '',
      ip: '',
      additionalIps: [],
      runtimeHandler,
    };
    // The pod network and the pause container (spec, snapshot, record,
    // task) are made at once: both need only the pinned netns, and the pause
    // does not start before the network is up. The record gets the pod's IPs
    // once the ADD has answered (containerd 1.7 updates it the same way).
    let networkUp: Promise<void> = Promise.resolve();
    if (!hostNetwork(config)) {
      const network = opts.network;
      if (network === undefined) {
        throw failedPrecondition('failed to setup network: no CNI network is configured');
      }
      mark('files');
      md.netnsPath = await createNetns(this.netnsDir);
      mark('netns');
      const netnsPath = md.netnsPath;
      undo.push({ what: 'network namespace', fn: () => removeNetns(netnsPath, this.netnsDir) });
      const req = podNetworkRequest(id, netnsPath, config);
      // Registered before setup: a failed ADD may have allocated (an IP) already.
      undo.push({ what: 'pod network', fn: () => network.remove(req) });
      networkUp = network.setup(req, { signal: ctx.signal }).then(
        (result) => {
          mark('network');
          const ips = selectPodIps(result);
          md.ip = ips.ip;
          md.additionalIps = ips.additionalIps;
          md.cniResult = result.raw;
        },
        (err: Error) => {
          throw withContext(err, `failed to setup network for sandbox ${JSON.stringify(id)}`);
        },
      );
    }
    const pauseMade = this.#createPause(ctx, md, image, runtime, dir, shmPath, undo, mark);
    const [net, pause] = await Promise.allSettled([networkUp, pauseMade]);
    // The network's error first: a pause that fails with it is its consequence.
    if (net.status === 'rejected') throw net.reason;
    if (pause.status === 'rejected') throw pause.reason;
    const { task, record } = pause.value;
    if (md.netnsPath !== '') {
      await opts.containers.update(
        ctx,
        { ...record, extensions: { [SANDBOX_METADATA_EXTENSION]: encodeSandboxMetadata(md) } },
        [`extensions.${SANDBOX_METADATA_EXTENSION}`],
      );
    }
    const pid = await task.start(ctx).catch((err: Error) => {
      throw withContext(err, `failed to start sandbox container task ${JSON.stringify(id)}`);
    });
    const sb = new Sandbox(
      md,
      { state: 'ready', pid, createdAt: record.createdAt },
      dir,
      this.sandboxStateDir(id),
      shmPath,
    );
    this.store.add(sb);
    this.#monitor(sb, task);
    mark('start');
    opts.log.debug({ sandbox: id, ms: steps }, 'pod sandbox running');
    return id;
  }

  /** The pause container: its spec, snapshot (leased until the record names it), record and task, not started. */
  async #createPause(
    ctx: OpContext,
    md: SandboxMetadata,
    image: SandboxImage,
    runtime: SandboxRuntime,
    dir: string,
    shmPath: string | undefined,
    undo: { what: string; fn: () => Promise<void> | void }[],
    mark: (step: string) => void,
  ): Promise<{ task: Task; record: Container }> {
    const { opts } = this;
    const { id, config } = md;
    const spec = await buildSandboxSpec({
      id,
      config,
      image: image.config,
      netnsPath: md.netnsPath,
      dir,
      ...(shmPath !== undefined && { shmPath }),
      options: opts.specOptions,
      host: realSpecHost,
    });
    mark('spec');
    const specAny = { typeUrl: SPEC_TYPE_URL, value: Buffer.from(JSON.stringify(spec)) };

    // The lease expires (a day, as containerd's client leases) should berthd die before the record exists.
    const expire = new Date(Date.now() + LEASE_TTL_MS).toISOString().replace(/\.\d+Z$/, 'Z');
    const lease = await opts.leases.create(ctx, {
      id: `cri-sandbox-${id}`,
      labels: { [LEASE_EXPIRE_LABEL]: expire },
    });
    let rootfs: Mount[];
    let record: Container;
    try {
      rootfs = await opts.snapshotter.prepare({ ...ctx, lease: lease.id }, id, image.chainId);
      mark('snapshot');
      undo.push({
        what: 'snapshot',
        fn: () => ignoreNotFound(opts.snapshotter.remove(this.#bg, id)),
      });
      record = await opts.containers.create(ctx, {
        id,
        labels: { ...image.labels, ...config.labels, [KIND_LABEL]: KIND_SANDBOX },
        image: image.name,
        runtime: { name: runtime.type, ...(runtime.options && { options: runtime.options }) },
        spec: specAny,
        snapshotter: opts.snapshotterName,
        snapshotKey: id,
        sandbox: '',
        extensions: { [SANDBOX_METADATA_EXTENSION]: encodeSandboxMetadata(md) },
      });
      undo.push({
        what: 'container record',
        fn: () => ignoreNotFound(opts.containers.delete(this.#bg, id)),
      });
    } finally {
      await opts.leases.delete(ctx, lease.id).catch(() => {});
    }

    const { task } = await opts.tasks
      .create(ctx, id, {
        spec: specAny,
        runtime: runtime.type,
        ...(runtime.options && { runtimeOptions: runtime.options }),
        rootfs,
        io: { stdin: '', stdout: '', stderr: '', terminal: false },
      })
      .catch((err: Error) => {
        throw withContext(err, 'failed to create containerd task');
      });
    mark('task');
    undo.push({ what: 'task', fn: () => this.#killAndDelete(task) });
    return { task, record };
  }

  /** Waits for the pause to exit, then marks the pod NOTREADY and deletes the task (containerd's exit handler). */
  #monitor(sb: Sandbox, task: Task): void {
    const pid = sb.status.pid;
    task.wait(this.#bg).then(
      async () => {
        if (this.store.list().includes(sb) && sb.status.pid === pid) {
          sb.status = { ...sb.status, state: 'notready', pid: 0 };
        }
        await ignoreNotFound(this.opts.tasks.delete(this.#bg, sb.id)).catch((err) =>
          this.opts.log.warn({ err, sandbox: sb.id }, 'deleting the exited sandbox task'),
        );
      },
      (err) => {
        // berthd is stopping or the shim is gone; recovery finds the task again.
        this.opts.log.debug({ err, sandbox: sb.id }, 'sandbox exit monitor ended');
      },
    );
  }

  async #killAndDelete(task: Task): Promise<void> {
    await ignoreNotFound(task.kill(this.#bg, SIGKILL, true));
    // The exit monitor may delete the task first: gone counts as exited.
    await Promise.race([ignoreNotFound(task.wait(this.#bg)), delay(STOP_WAIT_MS)]);
    await ignoreNotFound(this.opts.tasks.delete(this.#bg, task.id));
  }

  /** StopPodSandbox; idempotent. */
  async stop(ctx: OpContext, idOrPrefix: string): Promise<void> {
    const sb = this.store.sandbox(idOrPrefix);
    await this.#locked(sb.id, () => this.#stop(ctx, sb));
  }

  /**
   * containerd's stopPodSandbox: the pod's containers first, then the
   * pause (SIGKILL) and the pod network, then the netns. The pause and the
   * network go at once: the netns is pinned, so CNI DEL does not need the
   * pause gone, and neither waits for the other. A network torn down once
   * is not torn down again by a later stop or remove while berthd runs.
   */
  async #stop(ctx: OpContext, sb: Sandbox): Promise<void> {
    const { opts } = this;
    const t0 = performance.now();
    const steps: Record<string, number> = {};
    const mark = (step: string) => {
      steps[step] = Math.round(performance.now() - t0);
    };
    await this.podContainers?.stopAll(ctx, sb.id);
    mark('containers');
    if (sb.shmPath !== undefined) unmountShm(sb.shmPath);
    const results = await Promise.allSettled([
      this.#stopPause(ctx, sb).then(() => mark('pause')),
      this.#teardownNetwork(sb).then(() => mark('network')),
    ]);
    for (const r of results) if (r.status === 'rejected') throw r.reason;
    opts.log.debug({ sandbox: sb.id, ms: steps }, 'pod sandbox stopped');
  }

  async #stopPause(ctx: OpContext, sb: Sandbox): Promise<void> {
    if (sb.status.state === 'notready') return;
    let task: Task | undefined;
    try {
      task = this.opts.tasks.get(ctx, sb.id);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    if (task !== undefined) {
      await ignoreNotFound(task.kill(ctx, SIGKILL, true)).catch((err: Error) => {
        throw withContext(err, `failed to kill sandbox container ${JSON.stringify(sb.id)}`);
      });
      const exited = await Promise.race([
        ignoreNotFound(task.wait(ctx)).then(() => true),
        delay(STOP_WAIT_MS).then(() => false),
      ]);
      if (!exited) {
        throw newError(
          'deadline_exceeded',
          `sandbox ${sb.id}: the pause process did not exit ${STOP_WAIT_MS / 1000} s after SIGKILL`,
        );
      }
      await ignoreNotFound(this.opts.tasks.delete(ctx, sb.id));
    }
    sb.status = { ...sb.status, state: 'notready', pid: 0 };
  }

  async #teardownNetwork(sb: Sandbox): Promise<void> {
    const { network } = this.opts;
    const netnsPath = sb.metadata.netnsPath;
    if (netnsPath === '' || network === undefined || sb.networkDown) return;
    // A namespace removed by an earlier stop is passed as '' (the CNI spec's "gone").
    const req = podNetworkRequest(
      sb.id,
      existsSync(netnsPath) ? netnsPath : '',
      sb.metadata.config,
    );
    await network.remove(req).catch((err: Error) => {
      throw withContext(err, `failed to destroy network for sandbox ${JSON.stringify(sb.id)}`);
    });
    await removeNetns(netnsPath, this.netnsDir);
    sb.networkDown = true;
  }

  /** RemovePodSandbox: stops the pod first; a missing id is not an error. */
  async remove(ctx: OpContext, idOrPrefix: string): Promise<void> {
    let sb: Sandbox;
    try {
      sb = this.store.sandbox(idOrPrefix);
    } catch (err) {
      if (isNotFound(err)) return;
      throw err;
    }
    await this.#locked(sb.id, async () => {
      if (!this.store.list().includes(sb)) return;
      await this.#stop(ctx, sb).catch((err: Error) => {
        throw withContext(err, `failed to forcibly stop sandbox ${JSON.stringify(sb.id)}`);
      });
      await this.podContainers?.removeAll(ctx, sb.id);
      removeTree(sb.dir, this.opts.rootDir);
      removeTree(sb.stateDir, this.opts.stateDir);
      await ignoreNotFound(this.opts.containers.delete(ctx, sb.id));
      await ignoreNotFound(this.opts.snapshotter.remove(ctx, sb.id));
      this.store.delete(sb.id);
      this.names.releaseByKey(sb.id);
      this.#podSamples.delete(sb.id);
    });
  }

  /** PodSandboxStatus, and containerd's verbose info. */
  async status(
    ctx: OpContext,
    idOrPrefix: string,
    verbose: boolean,
  ): Promise<{ status: PodSandboxStatus; info: Record<string, string> }> {
    const sb = this.store.sandbox(idOrPrefix);
    const status = toCriSandboxStatus(sb);
    if (!verbose) return { status, info: {} };
    return {
      status,
      info: { info: JSON.stringify(await this.#verboseInfo(ctx, sb), bigintReplacer) },
    };
  }

  async #verboseInfo(ctx: OpContext, sb: Sandbox): Promise<Record<string, unknown>> {
    let processStatus = 'deleted';
    try {
      processStatus = (await this.opts.tasks.get(ctx, sb.id).state(ctx)).status;
    } catch (err) {
      if (!isNotFound(err)) processStatus = 'unknown';
    }
    let record: Container | undefined;
    try {
      record = await this.opts.containers.get(ctx, sb.id);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    return verboseSandboxInfo(sb, processStatus, record);
  }

  /** ListPodSandbox. */
  list(filter: PodSandboxFilter | undefined): PodSandbox[] {
    const items = this.store.list().map(toCriSandbox);
    return filterSandboxes(items, filter, (prefix) => {
      try {
        return this.store.sandbox(prefix).id;
      } catch {
        return undefined;
      }
    });
  }

  /**
   * PodSandboxStats: a READY pod with a cgroup parent (kubelet always gives
   * one; containerd refuses without) gets its cgroup's CPU and memory, eth0
   * traffic, its containers' process count and their stats.
   */
  async podStats(ctx: OpContext, idOrPrefix: string): Promise<PodSandboxStats> {
    const sb = this.store.sandbox(idOrPrefix);
    if (sb.status.state !== 'ready') {
      throw failedPrecondition(
        `failed to get pod sandbox stats since sandbox container ${JSON.stringify(sb.id)} is not in ready state`,
      );
    }
    const m = sb.metadata;
    const parent = m.config.linux?.cgroupParent ?? '';
    if (parent === '') throw noCgroupParent(sb.id);
    const sample = samplePodCgroup(parent, nowNanos());
    const { cpu, memory } = toCriUsage(sample, this.#podSamples.get(sb.id));
    this.#podSamples.set(sb.id, sample);
    let defaultInterface: NetworkInterfaceUsage | undefined;
    if (m.netnsPath !== '' && sb.status.pid > 0) {
      try {
        defaultInterface = parseNetDev(
          readFileSync(`/proc/${sb.status.pid}/net/dev`, 'utf8'),
          POD_IF_NAME,
        );
      } catch (err) {
        this.opts.log.debug({ err, sandbox: sb.id }, 'reading the pod network counters');
      }
    }
    const pc = this.podContainers;
    const [containers, processes] = await Promise.all([
      pc?.stats?.(ctx, sb.id) ?? Promise.resolve([]),
      pc?.processCount?.(ctx, sb.id) ?? Promise.resolve(0),
    ]);
    return {
      attributes: {
        id: sb.id,
        metadata: m.config.metadata,
        labels: m.config.labels,
        annotations: m.config.annotations,
      },
      linux: {
        cpu,
        memory,
        ...(m.netnsPath !== '' && {
          network: {
            timestamp: sample.timestamp,
            ...(defaultInterface && { defaultInterface }),
            interfaces: [],
          },
        }),
        process: { timestamp: sample.timestamp, processCount: { value: BigInt(processes) } },
        containers,
      },
    };
  }

  /**
   * ListPodSandboxStats: the stats of every pod the filter selects (id or
   * prefix, labels) that has them; a NOTREADY pod or one without a cgroup
   * parent is left out rather than failing the list.
   */
  async listPodStats(
    ctx: OpContext,
    filter: PodSandboxStatsFilter | undefined,
  ): Promise<PodSandboxStats[]> {
    const picked = filterSandboxes(
      this.list(undefined),
      filter && { id: filter.id, labelSelector: filter.labelSelector },
      (prefix) => {
        try {
          return this.store.sandbox(prefix).id;
        } catch {
          return undefined;
        }
      },
    );
    const out: PodSandboxStats[] = [];
    for (const item of picked) {
      const sb = this.store.sandbox(item.id);
      if (sb.status.state !== 'ready' || (sb.metadata.config.linux?.cgroupParent ?? '') === '')
        continue;
      try {
        out.push(await this.podStats(ctx, sb.id));
      } catch (err) {
        if (!isNotFound(err)) throw err;
        // Its cgroup is gone (the pod stopping meanwhile).
      }
    }
    return out;
  }

  /**
   * PortForward's runtime: `localhost:<port>` in the pod's network
   * namespace (berthd's own for a host-network pod, as containerd's
   * /proc/self/ns/net), piped with `stream` until both sides are done.
   */
  async portForward(idOrPrefix: string, port: number, stream: Duplex): Promise<void> {
    const sb = this.store.sandbox(idOrPrefix);
    if (sb.status.state !== 'ready') {
      throw failedPrecondition(`sandbox ${JSON.stringify(sb.id)} is not running`);
    }
    const netns = sb.metadata.netnsPath;
    if (netns !== '' && !existsSync(netns)) {
      throw failedPrecondition(`network namespace of sandbox ${JSON.stringify(sb.id)} is closed`);
    }
    const socket = netns === '' ? await dialHost(port) : await dialInNetns(netns, port);
    await pipeBoth(stream, socket);
  }

  /**
   * Rebuilds the sandboxes from the k8s.io records of kind sandbox (after a
   * restart, or kill -9): the task manager has reconnected their shims; a
   * running pause is READY again and watched, any other is NOTREADY.
   */
  async recover(): Promise<void> {
    const ctx = this.#bg;
    const records = await this.opts.containers.list(ctx);
    for (const rec of records) {
      if (rec.labels[KIND_LABEL] !== KIND_SANDBOX) continue;
      const ext = rec.extensions[SANDBOX_METADATA_EXTENSION];
      if (ext === undefined) continue;
      try {
        await this.#recoverOne(ctx, rec, decodeSandboxMetadata(ext));
      } catch (err) {
        this.opts.log.warn({ err, sandbox: rec.id }, 'failed to recover sandbox');
      }
    }
    await this.#removeOrphans(ctx).catch((err) =>
      this.opts.log.warn({ err }, 'failed to clean up after an interrupted RunPodSandbox'),
    );
  }

  /**
   * What a RunPodSandbox interrupted by a crash (before its record
   * existed) left: sandbox dirs without a record (their shm unmounted, the
   * pod network DELeted from the CNI cache), network namespaces no sandbox
   * names, and the snapshot's lease.
   */
  async #removeOrphans(ctx: OpContext): Promise<void> {
    const known = new Set(this.store.list().map((sb) => sb.id));
    const root = join(this.opts.rootDir, 'sandboxes');
    const state = join(this.opts.stateDir, 'sandboxes');
    const ids = new Set([...listDir(root), ...listDir(state)].filter((id) => !known.has(id)));
    for (const id of ids) {
      this.opts.log.info({ sandbox: id }, 'removing what an interrupted RunPodSandbox left');
      unmountShm(join(state, id, 'shm'));
      await this.opts.network
        ?.remove({ id, netnsPath: '', ifName: POD_IF_NAME, args: {}, portMappings: [] })
        .catch((err) => this.opts.log.warn({ err, sandbox: id }, 'CNI DEL of an orphan sandbox'));
      await ignoreNotFound(this.opts.leases.delete(ctx, `cri-sandbox-${id}`)).catch(() => {});
      removeTree(join(root, id), this.opts.rootDir);
      removeTree(join(state, id), this.opts.stateDir);
    }
    const inUse = new Set(this.store.list().map((sb) => sb.metadata.netnsPath));
    for (const name of listDir(this.netnsDir)) {
      const path = join(this.netnsDir, name);
      if (!inUse.has(path)) await removeNetns(path, this.netnsDir);
    }
  }

  async #recoverOne(ctx: OpContext, rec: Container, md: SandboxMetadata): Promise<void> {
    const shmPath = hostIpc(md.config) ? undefined : join(this.sandboxStateDir(md.id), 'shm');
    const sb = new Sandbox(
      md,
      { state: 'notready', pid: 0, createdAt: rec.createdAt },
      this.sandboxDir(md.id),
      this.sandboxStateDir(md.id),
      shmPath,
    );
    let task: Task | undefined;
    try {
      task = this.opts.tasks.get(ctx, md.id);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    if (task !== undefined) {
      const st = await task.state(ctx).catch(() => undefined);
      if (st !== undefined && (st.status === 'running' || st.status === 'paused')) {
        sb.status = { ...sb.status, state: 'ready', pid: st.pid };
      } else {
        // Exited (or never started) while berthd was away: as the exit handler would.
        await ignoreNotFound(this.opts.tasks.delete(ctx, md.id)).catch(() => {});
        task = undefined;
      }
    }
    this.names.reserve(md.name, md.id);
    this.store.add(sb);
    if (task !== undefined) this.#monitor(sb, task);
  }

  /** Serialises stop and remove of one sandbox. */
  async #locked(id: string, fn: () => Promise<void>): Promise<void> {
    const prev = this.#locks.get(id) ?? Promise.resolve();
    const next = prev.catch(() => {}).then(fn);
    const tail = next.catch(() => {});
    this.#locks.set(id, tail);
    try {
      await next;
    } finally {
      if (this.#locks.get(id) === tail) this.#locks.delete(id);
    }
  }
}
