/**
 * @module
 * The shapes the CRI spec builders read and write: the OCI runtime spec and
 * image config (src/core/oci's types, shared with the client's spec options,
 * under the `Oci` names the builders use), and the seams to the host (files,
 * devices, mounts, the daemon's own capabilities and oom score) so the
 * builders stay pure and testable without root.
 */

export type {
  ImageConfig,
  Linux as OciLinux,
  LinuxCapabilities as OciCapabilities,
  LinuxCPU as OciCPU,
  LinuxDevice as OciDevice,
  LinuxDeviceCgroup as OciDeviceCgroup,
  LinuxHugepageLimit as OciHugepageLimit,
  LinuxMemory as OciMemory,
  LinuxNamespace as OciNamespace,
  LinuxNamespaceType as OciNamespaceType,
  LinuxResources as OciResources,
  LinuxSeccomp as OciSeccomp,
  LinuxSeccompArg as OciSeccompArg,
  LinuxSpec as OciSpec,
  LinuxSyscall as OciSyscall,
  Mount as OciMount,
  POSIXRlimit as OciRlimit,
  Process as OciProcess,
  Root as OciRoot,
  User as OciUser,
} from '../../core/oci/index.js';

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
