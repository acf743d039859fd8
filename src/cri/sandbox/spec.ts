/**
 * The pause container's OCI spec, as containerd's sandboxContainerSpec
 * builds it, until cri-spec's `buildSandboxSpec` (src/cri/opts) replaces
 * this file: the default Linux spec (mounts, masked and read-only paths,
 * default capabilities), the image's entrypoint and cmd, the pod's
 * namespaces (a pinned netns, or the host's network, IPC and PID),
 * hostname, sysctls, cgroup parent, oom_score_adj and CRI annotations.
 */
import type { PodSandboxConfig } from '../../api/k8s/cri/runtime/v1/api.js';
import { invalidArgument } from '../../core/errdefs/index.js';
import { hostIpc, hostNetwork, hostPid } from './files.js';

/** The parts of an OCI image config the pause spec needs. */
export interface ImageConfigLike {
  User?: string;
  Env?: string[];
  Entrypoint?: string[];
  Cmd?: string[];
  WorkingDir?: string;
}

export interface SandboxSpecInput {
  id: string;
  namespace: string;
  config: PodSandboxConfig;
  image: ImageConfigLike;
  imageName: string;
  /** '' for host network. */
  netnsPath: string;
  /** The oom_score_adj to ask for (containerd: -998, raised to the daemon's own when restricted). */
  oomScoreAdj: number;
}

const DEFAULT_CAPS = [
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
const MASKED_PATHS = [
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
const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];
const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** containerd's CPU shares for a pause container. */
const SANDBOX_CPU_SHARES = 2;

function defaultMounts() {
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
      destination: '/sys/fs/cgroup',
      type: 'cgroup',
      source: 'cgroup',
      options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'],
    },
  ];
}

/** `uid[:gid]`, numeric only (a pause image has no /etc/passwd to look names up in). */
function parseUser(user: string): { uid: number; gid: number } {
  if (user === '') return { uid: 0, gid: 0 };
  const [u, g] = user.split(':', 2);
  const uid = Number(u);
  const gid = g === undefined ? uid : Number(g);
  if (!/^\d+$/.test(u ?? '') || (g !== undefined && !/^\d+$/.test(g))) {
    throw invalidArgument(
      `sandbox image user ${JSON.stringify(user)}: only numeric uid[:gid] is supported`,
    );
  }
  return { uid, gid };
}

export function buildSandboxSpec(input: SandboxSpecInput): Record<string, unknown> {
  const { id, config, image } = input;
  const sc = config.linux?.securityContext;
  const args = [...(image.Entrypoint ?? []), ...(image.Cmd ?? [])];
  if (args.length === 0)
    throw invalidArgument(`sandbox image ${input.imageName} has no entrypoint or cmd`);
  let { uid, gid } = parseUser(image.User ?? '');
  if (sc?.runAsUser !== undefined) uid = Number(sc.runAsUser.value);
  if (sc?.runAsGroup !== undefined) gid = Number(sc.runAsGroup.value);
  const env = image.Env !== undefined && image.Env.length > 0 ? image.Env : [DEFAULT_PATH];

  const namespaces: { type: string; path?: string }[] = [{ type: 'mount' }];
  if (!hostPid(config)) namespaces.push({ type: 'pid' });
  if (!hostIpc(config)) namespaces.push({ type: 'ipc' });
  if (!hostNetwork(config)) {
    namespaces.push({ type: 'uts' });
    namespaces.push({ type: 'network', path: input.netnsPath });
  }
  const cgroupParent = config.linux?.cgroupParent ?? '';
  const cgroupsPath =
    cgroupParent !== '' ? `${cgroupParent.replace(/\/$/, '')}/${id}` : `/${input.namespace}/${id}`;
  const meta = config.metadata;
  const caps = [...DEFAULT_CAPS];
  return {
    ociVersion: '1.0.2-dev',
    process: {
      terminal: false,
      user: {
        uid,
        gid,
        ...(sc !== undefined &&
          sc.supplementalGroups.length > 0 && {
            additionalGids: sc.supplementalGroups.map(Number),
          }),
      },
      args,
      env,
      cwd: image.WorkingDir !== undefined && image.WorkingDir !== '' ? image.WorkingDir : '/',
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      noNewPrivileges: true,
      oomScoreAdj: input.oomScoreAdj,
    },
    root: { path: 'rootfs', readonly: sc?.readonlyRootfs ?? false },
    ...(!hostNetwork(config) && config.hostname !== '' && { hostname: config.hostname }),
    mounts: defaultMounts(),
    annotations: {
      'io.kubernetes.cri.container-type': 'sandbox',
      'io.kubernetes.cri.sandbox-id': id,
      'io.kubernetes.cri.sandbox-name': meta?.name ?? '',
      'io.kubernetes.cri.sandbox-namespace': meta?.namespace ?? '',
      'io.kubernetes.cri.sandbox-uid': meta?.uid ?? '',
      'io.kubernetes.cri.sandbox-log-directory': config.logDirectory,
      'io.kubernetes.cri.image-name': input.imageName,
    },
    linux: {
      resources: {
        devices: [{ allow: false, access: 'rwm' }],
        cpu: { shares: SANDBOX_CPU_SHARES },
      },
      cgroupsPath,
      namespaces,
      ...(Object.keys(config.linux?.sysctls ?? {}).length > 0 && {
        sysctl: { ...config.linux?.sysctls },
      }),
      maskedPaths: MASKED_PATHS,
      readonlyPaths: READONLY_PATHS,
    },
  };
}
