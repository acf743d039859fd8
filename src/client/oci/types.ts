/**
 * @module
 * The OCI runtime spec as JSON (runtime-spec 1.1, the fields containerd's
 * options touch, named as in `config.json`), the image config fields the
 * spec options read, and the seams between the spec options and the client
 * library: {@link SpecOpt}, {@link SpecClient}, {@link SpecContainer},
 * {@link SpecImage}.
 *
 * Fields are optional where the Go types say `omitempty`: berth leaves them
 * out rather than writing empty values, so a spec serialises as containerd's
 * does.
 */
import type { Descriptor } from '../../core/content/index.js';

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

/** The cgroup resources of the container. */
export interface LinuxResources {
  devices?: LinuxDeviceCgroup[];
  memory?: LinuxMemory;
  cpu?: LinuxCPU;
  pids?: { limit: number };
  /** Controllers no option here sets, as runtime-spec spells them. */
  blockIO?: unknown;
  hugepageLimits?: unknown[];
  network?: unknown;
  rdma?: Record<string, unknown>;
  unified?: Record<string, string>;
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
  /** The seccomp profile as runtime-spec spells it; containerd's options only clear it. */
  seccomp?: unknown;
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
 * An image as the spec options need it: its name, and the manifest of the
 * platform the container runs on. The client library's `Image` satisfies it
 * (a parsed OCI or Docker manifest has `config` and `layers`).
 */
export interface SpecImage {
  /** The image record's name, e.g. `docker.io/library/busybox:latest`. */
  readonly name: string;
  /**
   * The platform's manifest: the config blob's descriptor and the layer
   * descriptors, bottom layer first, as in the manifest. Layers that the
   * content store no longer holds fail user resolution with `not_found`.
   */
  manifest(): Promise<{ config: Descriptor; layers: readonly Descriptor[] }>;
}

/**
 * What spec options need from the client: the namespace, the caller's abort
 * signal, blob reads from the content store (image configs, and layers for
 * resolving user and group names without mounting anything) and image
 * lookup by name (for options that find the image through the container).
 */
export interface SpecClient {
  /** The namespace the container is created in (the default cgroups path is `/<namespace>/<id>`). */
  readonly namespace: string;
  /** Aborts long option work (reading layers). */
  readonly signal?: AbortSignal;
  /**
   * The bytes of a committed blob, streamed in chunks. A missing blob throws
   * `not_found` (while iterating is fine).
   */
  readBlob(desc: Descriptor, opts?: { signal?: AbortSignal }): AsyncIterable<Uint8Array>;
  /** The image record `name` (`not_found` if there is none). */
  getImage(name: string): Promise<SpecImage>;
}

/**
 * The container a spec is generated for: containerd's `containers.Container`
 * as far as spec options read it. The client fills it from the container
 * options applied before `withNewSpec`.
 */
export interface SpecContainer {
  readonly id: string;
  /** The image name (`containers.Container.Image`), if the container has one. */
  readonly image?: string;
  readonly snapshotter?: string;
  readonly snapshotKey?: string;
}

/**
 * A spec option: changes `spec` in place, given the client and the container
 * (containerd's `oci.SpecOpts`). Options run in order; the first to throw
 * stops the generation.
 */
export type SpecOpt = (
  client: SpecClient,
  container: SpecContainer,
  spec: Spec,
) => void | Promise<void>;
