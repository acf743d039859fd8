/**
 * @module
 * containerd 1.6's default Linux spec (`oci.GenerateSpec` for a container
 * in the CRI's `k8s.io` namespace), the base every sandbox and container spec
 * starts from. 1.6 writes runtime-spec `1.0.2-dev` and does not mask
 * /sys/devices/virtual/powercap (1.7 does).
 */
import type {
  OciCapabilities,
  OciCPU,
  OciMemory,
  OciMount,
  OciNamespace,
  OciResources,
  OciSpec,
} from './types.js';

/** The runtime-spec version containerd 1.6.20 vendors. */
export const OCI_VERSION = '1.0.2-dev';

/** The containerd namespace CRI objects live in. */
export const CRI_NAMESPACE = 'k8s.io';

/** The rootfs path, relative to the bundle (containerd's relativeRootfsPath). */
export const RELATIVE_ROOTFS_PATH = 'rootfs';

/** The environment a process starts from (containerd's defaultUnixEnv). */
export const DEFAULT_PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The capabilities of a default container. */
export function defaultUnixCaps(): string[] {
  return [
    'CAP_CHOWN',
    'CAP_DAC_OVERRIDE',
    'CAP_FSETID',
    'CAP_FOWNER',
    'CAP_MKNOD',
    'CAP_NET_RAW',
    'CAP_SETGID',
    'CAP_SETUID',
    'CAP_SETFCAP',
    'CAP_SETPCAP',
    'CAP_NET_BIND_SERVICE',
    'CAP_SYS_CHROOT',
    'CAP_KILL',
    'CAP_AUDIT_WRITE',
  ];
}

/** The paths of /proc and /sys a default container cannot see. */
export function defaultMaskedPaths(): string[] {
  return [
    '/proc/acpi',
    '/proc/asound',
    '/proc/kcore',
    '/proc/keys',
    '/proc/latency_stats',
    '/proc/timer_list',
    '/proc/timer_stats',
    '/proc/sched_debug',
    '/sys/firmware',
    '/proc/scsi',
  ];
}

/** The paths of /proc a default container sees read-only. */
export function defaultReadonlyPaths(): string[] {
  return ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];
}

function defaultNamespaces(): OciNamespace[] {
  return [
    { type: 'pid' },
    { type: 'ipc' },
    { type: 'uts' },
    { type: 'mount' },
    { type: 'network' },
  ];
}

/** /proc, /dev, /dev/pts, /dev/shm, /dev/mqueue, /sys and /run, as containerd mounts them. */
export function defaultMounts(): OciMount[] {
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    {
      destination: '/dev',
      type: 'tmpfs',
      source: 'tmpfs',
      options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
    },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    {
      destination: '/dev/shm',
      type: 'tmpfs',
      source: 'shm',
      options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'],
    },
    {
      destination: '/dev/mqueue',
      type: 'mqueue',
      source: 'mqueue',
      options: ['nosuid', 'noexec', 'nodev'],
    },
    {
      destination: '/sys',
      type: 'sysfs',
      source: 'sysfs',
      options: ['nosuid', 'noexec', 'nodev', 'ro'],
    },
    {
      destination: '/run',
      type: 'tmpfs',
      source: 'tmpfs',
      options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
    },
  ];
}

/**
 * containerd's default spec for container `id` in the k8s.io namespace:
 * uid 0, cwd `/`, no new privileges, the default capabilities, 1024 open
 * files, the default mounts, masked and read-only paths, a deny-all device
 * cgroup, five new namespaces and the cgroups path `/k8s.io/<id>`.
 */
export function defaultUnixSpec(id: string): OciSpec {
  return {
    ociVersion: OCI_VERSION,
    process: {
      user: { uid: 0, gid: 0 },
      cwd: '/',
      capabilities: {
        bounding: defaultUnixCaps(),
        effective: defaultUnixCaps(),
        permitted: defaultUnixCaps(),
      },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: 'rootfs' },
    mounts: defaultMounts(),
    linux: {
      maskedPaths: defaultMaskedPaths(),
      readonlyPaths: defaultReadonlyPaths(),
      cgroupsPath: `/${CRI_NAMESPACE}/${id}`,
      resources: { devices: [{ allow: false, access: 'rwm' }] },
      namespaces: defaultNamespaces(),
    },
  };
}

/**
 * The CRI's changes to the default spec for both sandboxes and containers:
 * no /run mount (containerd's WithoutRunMount), no default seccomp or
 * AppArmor profile and no rlimits (WithoutDefaultSecuritySettings), the
 * rootfs at `rootfs` in the bundle.
 */
export function criBaseSpec(id: string): OciSpec {
  const spec = defaultUnixSpec(id);
  spec.mounts = spec.mounts.filter((m) => m.destination !== '/run');
  delete spec.process.apparmorProfile;
  delete spec.linux.seccomp;
  delete spec.process.rlimits;
  spec.root.path = RELATIVE_ROOTFS_PATH;
  return spec;
}

/** Sets (replacing one of the same type) or adds a namespace (containerd's WithLinuxNamespace). */
export function setNamespace(spec: OciSpec, ns: OciNamespace): void {
  const list = spec.linux.namespaces ?? [];
  spec.linux.namespaces = list;
  const at = list.findIndex((n) => n.type === ns.type);
  if (at >= 0) list[at] = ns;
  else list.push(ns);
}

/** Removes the namespace of `type` (containerd's WithoutNamespace). */
export function removeNamespace(spec: OciSpec, type: OciNamespace['type']): void {
  spec.linux.namespaces = (spec.linux.namespaces ?? []).filter((n) => n.type !== type);
}

/**
 * `env` with `overrides` applied as containerd's replaceOrAppendEnvValues
 * does: `K=v` replaces `K` where `env` has it, else is appended (so two
 * overrides of one new key are both kept, the later last); `K` alone removes
 * `K` from `env`.
 */
export function replaceOrAppendEnv(env: readonly string[], overrides: readonly string[]): string[] {
  const results = [...env];
  const index = new Map<string, number>();
  env.forEach((e, i) => {
    const eq = e.indexOf('=');
    index.set(eq < 0 ? e : e.slice(0, eq), i);
  });
  for (const value of overrides) {
    const eq = value.indexOf('=');
    const at = index.get(eq < 0 ? value : value.slice(0, eq));
    if (eq < 0) {
      if (at !== undefined) results[at] = '';
    } else if (at !== undefined) results[at] = value;
    else results.push(value);
  }
  return results.filter((e) => e !== '');
}

/** The spec's `linux.resources`, created when missing. */
export function resourcesOf(spec: OciSpec): OciResources {
  if (!spec.linux.resources) spec.linux.resources = {};
  return spec.linux.resources;
}

/** The spec's `linux.resources.cpu`, created when missing. */
export function cpuOf(spec: OciSpec): OciCPU {
  const res = resourcesOf(spec);
  if (!res.cpu) res.cpu = {};
  return res.cpu;
}

/** The spec's `linux.resources.memory`, created when missing. */
export function memoryOf(spec: OciSpec): OciMemory {
  const res = resourcesOf(spec);
  if (!res.memory) res.memory = {};
  return res.memory;
}

/** The process's capability sets, created when missing. */
export function capsOf(spec: OciSpec): OciCapabilities {
  if (!spec.process.capabilities) spec.process.capabilities = {};
  return spec.process.capabilities;
}
