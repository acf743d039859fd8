/**
 * @module
 * The OCI runtime spec as JSON (runtime-spec 1.1, the fields containerd's
 * client options and its CRI plugin write, named as in `config.json`) and the
 * OCI image config fields a container inherits: one set of types for the
 * client's spec options (src/client/oci) and the CRI's spec builders
 * (src/cri/opts), as containerd's one `oci` package serves both.
 *
 * Fields are optional where the Go types say `omitempty`: berth leaves them
 * out rather than writing empty values, so a spec serialises as containerd's
 * does.
 */

/** A user of the container's process: numeric ids only (names are resolved before). */
export interface User {
  uid: number;
  gid: number;
  umask?: number;
  additionalGids?: number[];
  /** Windows only (and containerd's holding place for LCOW). */
  username?: string;
}

/** A terminal size in characters. */
export interface Box {
  height: number;
  width: number;
}

/** The capability sets of the process (names such as `CAP_CHOWN`). */
export interface LinuxCapabilities {
  bounding?: string[];
  effective?: string[];
  inheritable?: string[];
  permitted?: string[];
  ambient?: string[];
}

/** A resource limit of the process (`RLIMIT_NOFILE`, …). */
export interface POSIXRlimit {
  type: string;
  hard: number;
  soft: number;
}

/** The container's init process. */
export interface Process {
  terminal?: boolean;
  consoleSize?: Box;
  user: User;
  args?: string[];
  /** Windows only. */
  commandLine?: string;
  env?: string[];
  cwd: string;
  capabilities?: LinuxCapabilities;
  rlimits?: POSIXRlimit[];
  noNewPrivileges?: boolean;
  apparmorProfile?: string;
  oomScoreAdj?: number;
  selinuxLabel?: string;
}

/** The root filesystem: a path relative to the bundle (containerd: `rootfs`) or absolute. */
export interface Root {
  path: string;
  readonly?: boolean;
}

/** A range of ids mapped into a user namespace. */
export interface LinuxIDMapping {
  containerID: number;
  hostID: number;
  size: number;
}

/** A mount in the container, in the order performed. */
export interface Mount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
  uidMappings?: LinuxIDMapping[];
  gidMappings?: LinuxIDMapping[];
}

/** Namespace kinds of `linux.namespaces` (runtime-spec names). */
export type LinuxNamespaceType =
  | 'pid'
  | 'network'
  | 'mount'
  | 'ipc'
  | 'uts'
  | 'user'
  | 'cgroup'
  | 'time';

/** A namespace to create (no `path`) or to join (`path`). */
export interface LinuxNamespace {
  type: LinuxNamespaceType;
  path?: string;
}

/** A device cgroup rule; rules apply in order, the last match wins. */
export interface LinuxDeviceCgroup {
  allow: boolean;
  type?: string;
  major?: number;
  minor?: number;
  access?: string;
}

/** A device node to create in the container. */
export interface LinuxDevice {
  path: string;
  type: string;
  major: number;
  minor: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
}

/** Memory limits, in bytes. */
export interface LinuxMemory {
  limit?: number;
  reservation?: number;
  swap?: number;
  kernel?: number;
  kernelTCP?: number;
  swappiness?: number;
  disableOOMKiller?: boolean;
  useHierarchy?: boolean;
}

/** CPU shares, CFS quota and period (µs), and the CPUs and memory nodes allowed. */
export interface LinuxCPU {
  shares?: number;
  quota?: number;
  period?: number;
  realtimeRuntime?: number;
  realtimePeriod?: number;
  cpus?: string;
  mems?: string;
  idle?: number;
}

/** A hugetlb limit: bytes of `pageSize` pages (`2MB`, `1GB`). */
export interface LinuxHugepageLimit {
  pageSize: string;
  limit: number;
}

/** The cgroup resources of the container. */
export interface LinuxResources {
  devices?: LinuxDeviceCgroup[];
  memory?: LinuxMemory;
  cpu?: LinuxCPU;
  pids?: { limit: number };
  /** Controllers no option here sets, as runtime-spec spells them. */
  blockIO?: unknown;
  hugepageLimits?: LinuxHugepageLimit[];
  network?: unknown;
  rdma?: Record<string, unknown>;
  unified?: Record<string, string>;
}

/** A seccomp argument condition. */
export interface LinuxSeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: string;
}

/** A seccomp rule: the action for the named syscalls (when the arguments match). */
export interface LinuxSyscall {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: LinuxSeccompArg[];
}

/** A seccomp profile. */
export interface LinuxSeccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  flags?: string[];
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls?: LinuxSyscall[];
}

/** The Linux section: namespaces, id mappings, cgroup, devices and confinement. */
export interface Linux {
  uidMappings?: LinuxIDMapping[];
  gidMappings?: LinuxIDMapping[];
  sysctl?: Record<string, string>;
  resources?: LinuxResources;
  cgroupsPath?: string;
  namespaces?: LinuxNamespace[];
  devices?: LinuxDevice[];
  seccomp?: LinuxSeccomp;
  rootfsPropagation?: string;
  maskedPaths?: string[];
  readonlyPaths?: string[];
  mountLabel?: string;
  intelRdt?: { closID?: string; l3CacheSchema?: string; memBwSchema?: string };
}

/** An OCI runtime spec (`config.json`). */
export interface Spec {
  ociVersion: string;
  process?: Process;
  root?: Root;
  hostname?: string;
  domainname?: string;
  mounts?: Mount[];
  /** Hooks as runtime-spec spells them (prestart, createRuntime, …, poststop). */
  hooks?: Record<string, unknown>;
  annotations?: Record<string, string>;
  linux?: Linux;
  /** Other platforms' sections, carried untouched. */
  windows?: unknown;
  solaris?: unknown;
  vm?: unknown;
}

/** The `config` section of an OCI (or Docker schema 2) image config: what a container inherits. */
export interface ImageConfig {
  User?: string;
  ExposedPorts?: Record<string, unknown>;
  Env?: string[];
  Entrypoint?: string[];
  Cmd?: string[];
  Volumes?: Record<string, unknown>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
  ArgsEscaped?: boolean;
}

/** An image config blob (`application/vnd.oci.image.config.v1+json`), the fields read here. */
export interface ImageConfigJson {
  architecture?: string;
  os?: string;
  config?: ImageConfig;
  rootfs?: { type: string; diff_ids: string[] };
}

/**
 * A Linux spec with its four sections present: what the default spec gives
 * and what the CRI's builders hold while they change it.
 */
export interface LinuxSpec extends Spec {
  process: Process;
  root: Root;
  mounts: Mount[];
  linux: Linux;
}
