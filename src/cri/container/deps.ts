/**
 * @module
 * What containers need of the CRI plugin's other parts, written as the
 * narrow contracts this folder codes against (the shapes of CRI-PLAN.md's
 * seams). The plugin (`src/cri/plugin.ts`) hands real implementations in:
 * sandboxes, images, OCI specs, container IO and exec plumbing, streaming
 * URLs and stats.
 */
import type { Readable, Writable } from 'node:stream';
import type {
  AttachRequest,
  ContainerConfig,
  ContainerStats,
  ExecRequest,
  PodSandboxConfig,
} from '../../api/k8s/cri/runtime/v1/api.js';
import type { AnyValue } from '../../core/containers/index.js';
import type { OpContext } from '../../core/namespaces/index.js';
import type { ProcessIO, Task } from '../../core/tasks/index.js';

/** A pod sandbox as containers see it. */
export interface SandboxInfo {
  id: string;
  config: PodSandboxConfig;
  state: 'ready' | 'notready';
  /** The pause process's pid (its namespaces are the pod's). */
  pid: number;
  netnsPath: string;
  ip: string;
  /** Holds the pod's hostname, hosts and resolv.conf. */
  dir: string;
  shmPath?: string;
  runtimeHandler: string;
}

export interface SandboxLookup {
  /** By id or unique prefix; `not_found` when there is none. */
  get(idOrPrefix: string): SandboxInfo;
}

/** The parts of an OCI image config document containers read. */
export interface OciImageConfig {
  config?: {
    User?: string;
    Env?: string[];
    Entrypoint?: string[];
    Cmd?: string[];
    WorkingDir?: string;
    Labels?: Record<string, string>;
    StopSignal?: string;
    Volumes?: Record<string, unknown>;
  };
}

/** An image resolved for a container. */
export interface ResolvedImage {
  /** The image id: its config digest. */
  id: string;
  /** The name the container refers to it by (as CreateContainer gave it, normalised). */
  name: string;
  /** The chain ID of its layers: the snapshot the container's rootfs is prepared from. */
  chainId: string;
  config: OciImageConfig;
}

export interface ImageLookup {
  /** A local image by tag, digest or id; `not_found` when it is not there. */
  resolve(ctx: OpContext, ref: string): Promise<ResolvedImage>;
  /** Tags and digests the image with this id is known by; undefined once it is gone. */
  references(
    ctx: OpContext,
    imageId: string,
  ): Promise<{ repoTags: string[]; repoDigests: string[] } | undefined>;
}

/** Files of the image's root filesystem, read before the container runs (/etc/passwd, /etc/group). */
export interface RootfsReader {
  /** The file's bytes, undefined when it does not exist; paths resolve inside the rootfs. */
  readFile(path: string): Promise<Buffer | undefined>;
}

export interface ContainerSpecInput {
  id: string;
  sandbox: SandboxInfo;
  config: ContainerConfig;
  image: ResolvedImage;
  rootfs: RootfsReader;
}

/** The OCI runtime spec (JSON), built from the CRI config. */
export type OciSpec = Record<string, any> & {
  process?: Record<string, any> & { args?: string[]; env?: string[]; terminal?: boolean };
  linux?: Record<string, any> & { resources?: Record<string, any> };
};

/** cri-spec's builder; throws `invalid_argument` for a config it cannot honour. */
export type BuildContainerSpec = (input: ContainerSpecInput) => Promise<OciSpec>;

/**
 * cri-spec's resource update: the spec with `resources` applied as
 * CreateContainer would have applied them (containerd's updateOCIResource).
 */
export type UpdateSpecResources = (
  spec: OciSpec,
  resources: import('../../api/k8s/cri/runtime/v1/api.js').LinuxContainerResources,
) => OciSpec;

export interface TermSize {
  width: number;
  height: number;
}

export interface StreamOptions {
  stdin?: Readable;
  stdout?: Writable;
  stderr?: Writable;
  tty: boolean;
  resize?: AsyncIterable<TermSize>;
}

/** A container's stdio: its FIFOs, the CRI log and attached clients (cri-io). */
export interface ContainerIO {
  /** The FIFO paths for TaskManager.create. */
  readonly io: ProcessIO;
  /** Copies the output into the CRI log file at `logPath` ('' discards it). */
  startLogging(logPath: string): void;
  /** Opens the log file again (after kubelet rotated it). */
  reopenLog(): Promise<void>;
  /** Connects a client; resolves when it detaches or the streams end. */
  attach(o: StreamOptions & { closeStdin?: () => Promise<void> }): Promise<void>;
  close(): Promise<void>;
}

/** Makes a container's IO in `dir` (its FIFOs), or reopens the FIFOs already there. */
export type CreateContainerIO = (
  dir: string,
  opts: { tty: boolean; stdin: boolean; stdinOnce: boolean },
) => Promise<ContainerIO>;

/**
 * Runs one exec to its end (cri-io): creates its IO, execs `process` in
 * `task`, copies the streams, kills it at `timeoutMs` (then rejects with
 * `deadline_exceeded`), deletes it; answers its exit code.
 */
export type RunExec = (
  task: Task,
  execId: string,
  process: Record<string, unknown>,
  o: StreamOptions & { timeoutMs?: number; dir: string; ctx: OpContext },
) => Promise<number>;

/** The streaming server's URLs (cri-stream). */
export interface StreamingUrls {
  getExec(req: ExecRequest): { url: string };
  getAttach(req: AttachRequest): { url: string };
}

/** The runtime a container runs on, from the CRI config by the pod's runtime handler. */
export interface RuntimeChoice {
  /** `io.containerd.runc.v2`. */
  type: string;
  /** The runtime's options (runc's, with Root = <state>/runc). */
  options?: AnyValue;
  /** The snapshotter the container's rootfs is prepared on. */
  snapshotter: string;
}

/**
 * Container stats (cri-images' stats): CPU and memory from the task's
 * cgroup metrics, the writable layer from the snapshot's usage.
 */
export type BuildContainerStats = (input: {
  id: string;
  config: ContainerConfig;
  metrics: AnyValue | undefined;
  usage: { size: number; inodes: number } | undefined;
  snapshotter: string;
  timestampNs: bigint;
}) => ContainerStats;
