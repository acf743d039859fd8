import type { PodSandboxConfig } from '../../api/k8s/cri/runtime/v1/api.js';

/** A sandbox's state, containerd's: unknown only while recovery cannot tell. */
export type SandboxState = 'ready' | 'notready' | 'unknown';

/**
 * What is persisted of a sandbox, in its container record's extension
 * (containerd's sandboxstore.Metadata): enough to answer status and to
 * tear its network down after a restart.
 */
export interface SandboxMetadata {
  id: string;
  /** `<name>_<namespace>_<uid>_<attempt>`. */
  name: string;
  config: PodSandboxConfig;
  /** The pinned network namespace; '' for host network. */
  netnsPath: string;
  ip: string;
  additionalIps: string[];
  runtimeHandler: string;
  /** The CNI result as the plugins answered it (inspectp's `cniResult`). */
  cniResult?: unknown;
}

/** The volatile side of a sandbox. */
export interface SandboxStatus {
  state: SandboxState;
  /** The pause process; 0 once it has exited. */
  pid: number;
  /** Nanoseconds since the epoch. */
  createdAt: bigint;
}

/** What the container part sees of a sandbox (CRI-PLAN.md's seam). */
export interface SandboxInfo {
  readonly id: string;
  readonly config: PodSandboxConfig;
  readonly state: 'ready' | 'notready';
  readonly pid: number;
  readonly netnsPath: string;
  readonly ip: string;
  /** The sandbox's root dir: hostname, hosts, resolv.conf. */
  readonly dir: string;
  /** The pod's /dev/shm, absent with host IPC. */
  readonly shmPath?: string;
  readonly runtimeHandler: string;
}

/** How the container part finds sandboxes: by id or unique id prefix (`not_found` otherwise). */
export interface SandboxLookup {
  get(idOrPrefix: string): SandboxInfo;
}

/** One sandbox in memory: its metadata and its status. */
export class Sandbox {
  /** The pod network has been torn down (CNI DEL done, netns removed) since berthd started. */
  networkDown = false;

  constructor(
    readonly metadata: SandboxMetadata,
    public status: SandboxStatus,
    /** Root dir (persistent files). */
    readonly dir: string,
    /** State dir (shm), volatile. */
    readonly stateDir: string,
    readonly shmPath: string | undefined,
  ) {}

  get id(): string {
    return this.metadata.id;
  }

  info(): SandboxInfo {
    const m = this.metadata;
    return {
      id: m.id,
      config: m.config,
      state: this.status.state === 'ready' ? 'ready' : 'notready',
      pid: this.status.pid,
      netnsPath: m.netnsPath,
      ip: m.ip,
      dir: this.dir,
      ...(this.shmPath !== undefined && { shmPath: this.shmPath }),
      runtimeHandler: m.runtimeHandler,
    };
  }
}

/** containerd's sandbox name: unique as long as the metadata is. */
export function makeSandboxName(m: PodSandboxConfig['metadata']): string {
  return [m?.name ?? '', m?.namespace ?? '', m?.uid ?? '', String(m?.attempt ?? 0)].join('_');
}
