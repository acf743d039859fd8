/**
 * @module
 * The shapes the CRI spec builders read and write: the OCI runtime spec
 * (`config.json`, the fields containerd's CRI plugin sets, named as runtime-spec
 * names them), the OCI image config, and the seams to the host (files, devices,
 * mounts, the daemon's own capabilities and oom score) so the builders stay
 * pure and testable without root.
 *
 * The spec types repeat `src/client/oci/types.ts` (cri may not import client);
 * optional fields are left out rather than written empty, as Go's `omitempty`.
 */

/** The process's user: numeric ids only (names are resolved against the rootfs first). */
export interface OciUser {
  uid: number;
  gid: number;
  umask?: number;
  additionalGids?: number[];
}

/** The capability sets of the process (names such as `CAP_CHOWN`). */
export interface OciCapabilities {
  bounding?: string[];
  effective?: string[];
  inheritable?: string[];
  permitted?: string[];
  ambient?: string[];
}

/** A resource limit of the process (`RLIMIT_NOFILE`, …). */
export interface OciRlimit {
  type: string;
  hard: number;
  soft: number;
}

export interface OciProcess {
  terminal?: boolean;
  user: OciUser;
  args?: string[];
  env?: string[];
  cwd: string;
  capabilities?: OciCapabilities;
  rlimits?: OciRlimit[];
  noNewPrivileges?: boolean;
  apparmorProfile?: string;
  oomScoreAdj?: number;
  selinuxLabel?: string;
}

export interface OciRoot {
  path: string;
  readonly?: boolean;
}

export interface OciMount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
}

export type OciNamespaceType =
  | 'pid'
  | 'network'
  | 'mount'
  | 'ipc'
  | 'uts'
  | 'user'
  | 'cgroup'
  | 'time';

/** A namespace to create (no `path`) or to join (`path`). */
export interface OciNamespace {
  type: OciNamespaceType;
  path?: string;
}

/** A device cgroup rule; the last match wins. */
export interface OciDeviceCgroup {
  allow: boolean;
  type?: string;
  major?: number;
  minor?: number;
  access?: string;
}

/** A device node the runtime creates in the container. */
export interface OciDevice {
  path: string;
  type: string;
  major: number;
  minor: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
}

export interface OciMemory {
  limit?: number;
  reservation?: number;
  swap?: number;
}

export interface OciCPU {
  shares?: number;
  quota?: number;
  period?: number;
  cpus?: string;
  mems?: string;
}

export interface OciHugepageLimit {
  pageSize: string;
  limit: number;
}

export interface OciResources {
  devices?: OciDeviceCgroup[];
  memory?: OciMemory;
  cpu?: OciCPU;
  hugepageLimits?: OciHugepageLimit[];
  unified?: Record<string, string>;
}

/** A seccomp argument condition (runtime-spec `LinuxSeccompArg`). */
export interface OciSeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: string;
}

/** A seccomp rule (runtime-spec `LinuxSyscall`). */
export interface OciSyscall {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: OciSeccompArg[];
}

/** A seccomp profile (runtime-spec `LinuxSeccomp`). */
export interface OciSeccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  flags?: string[];
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls?: OciSyscall[];
}

export interface OciLinux {
  sysctl?: Record<string, string>;
  resources?: OciResources;
  cgroupsPath?: string;
  namespaces?: OciNamespace[];
  devices?: OciDevice[];
  seccomp?: OciSeccomp;
  rootfsPropagation?: string;
  maskedPaths?: string[];
  readonlyPaths?: string[];
  mountLabel?: string;
}

/** An OCI runtime spec (`config.json`). */
export interface OciSpec {
  ociVersion: string;
  process: OciProcess;
  root: OciRoot;
  hostname?: string;
  mounts: OciMount[];
  annotations?: Record<string, string>;
  linux: OciLinux;
}

/** The `config` section of an OCI (or Docker schema 2) image config: what a container inherits. */
export interface ImageConfig {
  User?: string;
  Env?: string[];
  Entrypoint?: string[];
  Cmd?: string[];
  WorkingDir?: string;
  StopSignal?: string;
  Volumes?: Record<string, unknown>;
  Labels?: Record<string, string>;
}

/** A file's type and numbers as lstat(2) reports them (what device nodes are built from). */
export interface FileStat {
  /** st_mode, file type bits included. */
  mode: number;
  /** st_rdev. */
  rdev: bigint;
  uid: number;
  gid: number;
}

/**
 * The host as the builders see it. {@link hostOf} gives the real one; tests
 * pass fakes. Paths are host paths.
 */
export interface SpecHost {
  /** lstat(2); undefined when nothing is at `path` (ENOENT); other errors (ENOTDIR, EACCES) thrown. */
  lstat(path: string): Promise<FileStat | undefined>;
  /** Whether `path` is a directory (following symlinks); undefined when missing (ENOENT only), other errors thrown. */
  isDirectory(path: string): Promise<boolean | undefined>;
  /** Names in directory `path` (unsorted). */
  readDir(path: string): Promise<string[]>;
  /** `path` with every symlink resolved (Go's filepath.EvalSymlinks). */
  realpath(path: string): Promise<string>;
  /** mkdir -p with mode 0755. */
  mkdirAll(path: string): Promise<void>;
  /** A whole file (seccomp profiles). Errors are the fs errors (`code` ENOENT, …). */
  readFile(path: string): Promise<Buffer>;
  /** The text of /proc/self/mountinfo. */
  mountInfo(): Promise<string>;
}

/**
 * The CRI plugin's settings that change specs, under containerd's config
 * names (`[plugins."io.containerd.grpc.v1.cri"]`), and facts about the daemon.
 */
export interface SpecOptions {
  /** `restrict_oom_score_adj`: never ask for an oom_score_adj below the daemon's own. */
  restrictOomScoreAdj?: boolean;
  /** The daemon's /proc/self/oom_score_adj (read once by the caller). Required when restricting. */
  daemonOomScoreAdj?: number;
  /** `disable_cgroup`: no cgroups path, no resources. */
  disableCgroup?: boolean;
  /** `disable_proc_mount`: keep the default masked and read-only paths (containerd clears them otherwise). */
  disableProcMount?: boolean;
  /** `unset_seccomp_profile`: the profile used when a pod or container names none. */
  unsetSeccompProfile?: string;
  /** `enable_unprivileged_ports`: sysctl net.ipv4.ip_unprivileged_port_start=0 in pods with their own network. */
  enableUnprivilegedPorts?: boolean;
  /** `enable_unprivileged_icmp`: sysctl net.ipv4.ping_group_range="0 2147483647" likewise. */
  enableUnprivilegedIcmp?: boolean;
  /** `tolerate_missing_hugetlb_controller` (containerd's default: true). */
  tolerateMissingHugetlbController?: boolean;
  /** `disable_hugetlb_controller` (containerd's default: true). */
  disableHugetlbController?: boolean;
  /** `device_ownership_from_security_context`. */
  deviceOwnershipFromSecurityContext?: boolean;
  /** The runtime's `privileged_without_host_devices`. */
  privilegedWithoutHostDevices?: boolean;
  /** The runtime's `pod_annotations`: patterns (Go path.Match) of pod annotations passed into specs. */
  podAnnotations?: readonly string[];
  /** The runtime's `container_annotations`: the same for container annotations. */
  containerAnnotations?: readonly string[];
  /** The daemon's effective capabilities (containerd's cap.Current()): "ALL" and privileged grant these. */
  daemonCapabilities: readonly string[];
  /** Whether /sys/fs/cgroup is cgroup v2 (unified): containers then get a cgroup namespace. */
  cgroupV2: boolean;
  /** Whether the kernel supports seccomp (containerd's seccomp.IsEnabled()). */
  seccompEnabled?: boolean;
  /** Whether the hugetlb controller is present. */
  hugetlbAvailable?: boolean;
  /** Whether the memory swap controller is present (memory limits then also limit swap). */
  swapControllerAvailable?: boolean;
  /** The machine: seccomp architectures and arch-only rules (Node's `process.arch`). */
  arch?: string;
  /** The running kernel's `major.minor` (ptrace is allowed from 4.8). */
  kernelVersion?: { major: number; minor: number };
  /** Whether the daemon runs in a user namespace (no ping_group_range then). */
  runningInUserNS?: boolean;
}
