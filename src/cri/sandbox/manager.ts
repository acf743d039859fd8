/**
 * @module
 * Pod sandboxes: {@link SandboxManager} holds the state (the store, the name
 * index, the options) and the paths every call shares; each call is a
 * function of the manager in the file named for it: run.ts, stop-remove.ts,
 * status-list.ts, stats.ts and recover.ts.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import type {
  ContainerStats,
  PodSandbox,
  PodSandboxConfig,
  PodSandboxFilter,
  PodSandboxStats,
  PodSandboxStatsFilter,
  PodSandboxStatus,
} from '../../api/k8s/cri/runtime/v1/api.js';
import type { AnyValue, ContainerStore } from '../../core/containers/index.js';
import { failedPrecondition } from '../../core/errdefs/index.js';
import type { LeaseManager } from '../../core/leases/index.js';
import type { Logger } from '../../core/log/index.js';
import type { OpContext } from '../../core/namespaces/index.js';
import type { Snapshotter } from '../../core/snapshots/index.js';
import type { TaskManager } from '../../core/tasks/index.js';
import type { SpecOptions } from '../opts/index.js';
import { NameIndex } from '../store/index.js';
import { CRI_NAMESPACE } from './constants.js';
import type { SandboxImages } from './image.js';
import type { PodNetworks } from './network.js';
import type { PodCgroupSample } from './pod-stats.js';
import { dialHost, dialInNetns, pipeBoth } from './port-forward.js';
import * as recovery from './recover.js';
import * as running from './run.js';
import * as stats from './stats.js';
import * as statusList from './status-list.js';
import * as stopRemove from './stop-remove.js';
import { SandboxStore } from './store.js';

export { CRI_NAMESPACE, SPEC_TYPE_URL } from './constants.js';

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
  /** The tail of each sandbox's stop and remove calls (see {@link locked}). */
  readonly locks = new Map<string, Promise<void>>();
  /** Each pod's last cgroup sample, for the CPU rate. */
  readonly podSamples = new Map<string, PodCgroupSample>();
  /** A context no caller cancels, for work that must finish whatever the call does (undoing, recovery). */
  readonly bg: OpContext;

  constructor(readonly opts: SandboxManagerOptions) {
    this.bg = { namespace: CRI_NAMESPACE, signal: new AbortController().signal, log: opts.log };
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
    return running.run(this, ctx, config, runtimeHandler);
  }

  /** StopPodSandbox; idempotent. */
  async stop(ctx: OpContext, idOrPrefix: string): Promise<void> {
    return stopRemove.stop(this, ctx, idOrPrefix);
  }

  /** RemovePodSandbox: stops the pod first; a missing id is not an error. */
  async remove(ctx: OpContext, idOrPrefix: string): Promise<void> {
    return stopRemove.remove(this, ctx, idOrPrefix);
  }

  /** PodSandboxStatus, and containerd's verbose info. */
  async status(
    ctx: OpContext,
    idOrPrefix: string,
    verbose: boolean,
  ): Promise<{ status: PodSandboxStatus; info: Record<string, string> }> {
    return statusList.status(this, ctx, idOrPrefix, verbose);
  }

  /** ListPodSandbox. */
  list(filter: PodSandboxFilter | undefined): PodSandbox[] {
    return statusList.list(this, filter);
  }

  /**
   * PodSandboxStats: a READY pod with a cgroup parent (kubelet always gives
   * one; containerd refuses without) gets its cgroup's CPU and memory, eth0
   * traffic, its containers' process count and their stats.
   */
  async podStats(ctx: OpContext, idOrPrefix: string): Promise<PodSandboxStats> {
    return stats.podStats(this, ctx, idOrPrefix);
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
    return stats.listPodStats(this, ctx, filter);
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
    return recovery.recover(this);
  }

  /** Serialises stop and remove of one sandbox. */
  async locked(id: string, fn: () => Promise<void>): Promise<void> {
    const prev = this.locks.get(id) ?? Promise.resolve();
    const next = prev.catch(() => {}).then(fn);
    const tail = next.catch(() => {});
    this.locks.set(id, tail);
    try {
      await next;
    } finally {
      if (this.locks.get(id) === tail) this.locks.delete(id);
    }
  }
}
