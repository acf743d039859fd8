/**
 * @module
 * The pause container's spec (containerd 1.6's sandboxContainerSpec and
 * sandboxContainerSpecOpts).
 */
import { NamespaceMode, type PodSandboxConfig } from '../../api/k8s/cri/runtime/v1/api.js';
import { invalidArgument } from '../../core/errdefs/index.js';
import * as A from './annotations.js';
import {
  cpuOf,
  criBaseSpec,
  removeNamespace,
  replaceOrAppendEnv,
  setNamespace,
} from './defaults.js';
import { DEV_SHM, RESOLV_CONF } from './mounts.js';
import { platformOf } from './platform.js';
import { cgroupsPathOf, passthroughAnnotations, restrictedOomScoreAdj } from './resources.js';
import { requestedSeccomp, seccompFor } from './security-profile.js';
import type { ImageConfig, OciSpec, SpecHost, SpecOptions } from './types.js';
import {
  addSupplementalGroups,
  generateUserString,
  RootfsIds,
  type RootfsReader,
  setUser,
} from './user.js';

/** The pause container's oom_score_adj (kubelet's PodInfraOOMAdj). */
export const DEFAULT_SANDBOX_OOM_ADJ = -998;

/** The pause container's CPU shares. */
export const DEFAULT_SANDBOX_CPU_SHARES = 2;

export interface SandboxSpecInput {
  /** The sandbox id (also the pause container's id). */
  id: string;
  config: PodSandboxConfig;
  /** The pause image's config section. */
  image: ImageConfig;
  /** The pinned network namespace; ignored under host network (may be filled in later, as containerd does). */
  netnsPath?: string;
  /** The sandbox's root directory (hosts `resolv.conf`). */
  dir: string;
  /** The sandbox's /dev/shm tmpfs; required unless the pod uses host IPC. */
  shmPath?: string;
  /** Reads the pause image's /etc/passwd and /etc/group (a numeric USER needs /etc/passwd only for its gid). */
  readRootfsFile?: RootfsReader;
  options: SpecOptions;
  /** Only `readFile` is used (localhost seccomp profiles). */
  host: Pick<SpecHost, 'readFile'>;
}

/**
 * The OCI spec of a pod's pause container: the image's entrypoint and cmd,
 * env, working dir and user (or the pod's run_as_user / run_as_group),
 * read-only rootfs, the pod's hostname; new IPC, UTS, PID and mount
 * namespaces and the pod's network namespace, each replaced by the host's
 * under the host options (host network drops UTS too); the sandbox's
 * /dev/shm (the host's under host IPC) and resolv.conf bound read-only;
 * the pod's sysctls; CPU shares 2, oom_score_adj -998 (restricted), the
 * cgroups path under the pod's cgroup parent; the pod's seccomp profile;
 * containerd's sandbox annotations.
 */
export async function buildSandboxSpec(input: SandboxSpecInput): Promise<OciSpec> {
  const { id, config, image, options } = input;
  const linux = config.linux;
  const sc = linux?.securityContext;
  const ns = sc?.namespaceOptions;
  const spec = criBaseSpec(id);

  if (image.Env && image.Env.length > 0)
    spec.process.env = replaceOrAppendEnv(spec.process.env ?? [], image.Env);
  spec.root.readonly = true;
  if (config.hostname !== '') spec.hostname = config.hostname;
  if (image.WorkingDir) spec.process.cwd = image.WorkingDir;
  const args = [...(image.Entrypoint ?? []), ...(image.Cmd ?? [])];
  if (args.length === 0) {
    throw invalidArgument(
      `failed to generate sandbox container spec: invalid empty entrypoint and cmd in image config`,
    );
  }
  spec.process.args = args;

  if (options.disableCgroup) spec.linux.cgroupsPath = '';
  else if (linux?.cgroupParent) spec.linux.cgroupsPath = cgroupsPathOf(linux.cgroupParent, id);

  if (ns?.network === NamespaceMode.NODE) {
    removeNamespace(spec, 'network');
    removeNamespace(spec, 'uts');
  } else {
    setNamespace(spec, { type: 'network', ...(input.netnsPath ? { path: input.netnsPath } : {}) });
  }
  if (ns?.pid === NamespaceMode.NODE) removeNamespace(spec, 'pid');
  if (ns?.ipc === NamespaceMode.NODE) removeNamespace(spec, 'ipc');

  const shm = ns?.ipc === NamespaceMode.NODE ? DEV_SHM : input.shmPath;
  if (!shm) throw invalidArgument(`sandbox "${id}": no /dev/shm path for a pod without host IPC`);
  spec.mounts.push(
    { source: shm, destination: DEV_SHM, type: 'bind', options: ['rbind', 'ro'] },
    // for runtimes that set up DNS inside a VM (Kata), as containerd does
    {
      source: `${input.dir.replace(/\/$/, '')}/resolv.conf`,
      destination: RESOLV_CONF,
      type: 'bind',
      options: ['rbind', 'ro'],
    },
  );
  // SELinux labels: none on this machine.
  addSupplementalGroups(spec, sc?.supplementalGroups ?? []);

  const sysctls: Record<string, string> = { ...(linux?.sysctls ?? {}) };
  if (ns?.network !== NamespaceMode.NODE) {
    if (options.enableUnprivilegedPorts && !('net.ipv4.ip_unprivileged_port_start' in sysctls)) {
      sysctls['net.ipv4.ip_unprivileged_port_start'] = '0';
    }
    if (
      options.enableUnprivilegedIcmp &&
      !('net.ipv4.ping_group_range' in sysctls) &&
      !options.runningInUserNS
    ) {
      sysctls['net.ipv4.ping_group_range'] = '0 2147483647';
    }
  }
  spec.linux.sysctl = { ...(spec.linux.sysctl ?? {}), ...sysctls };

  if (!options.disableCgroup) {
    cpuOf(spec).shares = DEFAULT_SANDBOX_CPU_SHARES;
  }
  const annotations: Record<string, string> = {};
  const res = linux?.resources;
  if (res) {
    annotations[A.SandboxCPUPeriod] = res.cpuPeriod.toString();
    annotations[A.SandboxCPUQuota] = res.cpuQuota.toString();
    annotations[A.SandboxCPUShares] = res.cpuShares.toString();
    annotations[A.SandboxMem] = res.memoryLimitInBytes.toString();
  }
  spec.process.oomScoreAdj = restrictedOomScoreAdj(DEFAULT_SANDBOX_OOM_ADJ, options);
  Object.assign(annotations, passthroughAnnotations(config.annotations, options.podAnnotations));
  annotations[A.ContainerType] = A.ContainerTypeSandbox;
  annotations[A.SandboxID] = id;
  annotations[A.SandboxNamespace] = config.metadata?.namespace ?? '';
  annotations[A.SandboxUID] = config.metadata?.uid ?? '';
  annotations[A.SandboxName] = config.metadata?.name ?? '';
  annotations[A.SandboxLogDir] = config.logDirectory;
  spec.annotations = annotations;

  // What containerd applies when it creates the container record: seccomp, then the user.
  const seccomp = await seccompFor({
    profile: requestedSeccomp(sc, options.unsetSeccompProfile),
    privileged: sc?.privileged ?? false,
    seccompEnabled: options.seccompEnabled ?? true,
    spec,
    platform: platformOf(options),
    host: input.host,
  });
  if (seccomp) spec.linux.seccomp = seccomp;
  const userstr = generateUserString('', sc?.runAsUser, sc?.runAsGroup) || image.User || '';
  if (userstr !== '') {
    const read = input.readRootfsFile ?? (async () => undefined);
    await setUser(spec, userstr, new RootfsIds(read));
  }
  return spec;
}
