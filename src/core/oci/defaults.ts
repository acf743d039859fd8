/**
 * @module
 * containerd's defaults for Linux specs (its `oci` package): the default
 * capabilities, namespaces, mounts, masked and read-only paths, and the
 * capability names by bit. Each call returns a fresh copy the caller may
 * change.
 */
import type { LinuxNamespace, LinuxSpec, Mount } from './types.js';

/** The root filesystem's path, relative to the bundle (containerd's defaultRootfsPath). */
export const DEFAULT_ROOTFS_PATH = 'rootfs';

/** The `PATH` a Linux process gets when the image sets none (containerd's defaultUnixEnv). */
export const DEFAULT_PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Every capability Linux knows, by bit number (containerd's pkg/cap list, Linux 5.9). */
export const KNOWN_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
];

/** The names of the capabilities set in a capability bitmap, in bit order; unknown bits are left out. */
export function capabilitiesOf(bitmap: bigint): string[] {
  const out: string[] = [];
  for (let bit = 0; bit < 64; bit++) {
    if ((bitmap >> BigInt(bit)) & 1n) {
      const name = KNOWN_CAPABILITIES[bit];
      if (name) out.push(name);
    }
  }
  return out;
}

/** Capabilities every default container has (bounding, permitted and effective). */
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

/** The namespaces a default container gets new instances of (no user or cgroup namespace). */
export function defaultUnixNamespaces(): LinuxNamespace[] {
  return [
    { type: 'pid' },
    { type: 'ipc' },
    { type: 'uts' },
    { type: 'mount' },
    { type: 'network' },
  ];
}

/**
 * The paths of /proc and /sys a default container cannot see. containerd
 * 1.7 also masks /sys/devices/virtual/powercap; 1.6 (whose specs the CRI
 * matches) does not.
 */
export function defaultMaskedPaths(opts: { powercap: boolean }): string[] {
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
    ...(opts.powercap ? ['/sys/devices/virtual/powercap'] : []),
    '/proc/scsi',
  ];
}

/** The paths of /proc a default container sees read-only. */
export function defaultReadonlyPaths(): string[] {
  return ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];
}

/**
 * The mounts every default Linux container gets, in containerd's order
 * (`oci.defaultMounts`): /proc, a tmpfs /dev with devpts, shm and mqueue in
 * it, a read-only /sys and a tmpfs /run.
 */
export function defaultMounts(): Mount[] {
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
 * containerd's default Linux spec (`oci.populateDefaultUnixSpec`): root
 * `rootfs`, uid 0, cwd `/`, no new privileges, the default capabilities,
 * 1024 open files, the default mounts, masked and read-only paths of /proc
 * and /sys, a deny-all device cgroup, five new namespaces and `cgroupsPath`.
 * No args, no env. `ociVersion` and `maskPowercap` tell containerd 1.7's
 * spec (1.1.0, masked) from 1.6's (1.0.2-dev, not masked).
 */
export function defaultLinuxSpec(opts: {
  ociVersion: string;
  cgroupsPath: string;
  maskPowercap: boolean;
}): LinuxSpec {
  return {
    ociVersion: opts.ociVersion,
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
    root: { path: DEFAULT_ROOTFS_PATH },
    mounts: defaultMounts(),
    linux: {
      resources: { devices: [{ allow: false, access: 'rwm' }] },
      cgroupsPath: opts.cgroupsPath,
      namespaces: defaultUnixNamespaces(),
      maskedPaths: defaultMaskedPaths({ powercap: opts.maskPowercap }),
      readonlyPaths: defaultReadonlyPaths(),
    },
  };
}
