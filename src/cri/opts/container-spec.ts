/**
 * @module
 * A container's spec (containerd 1.6's containerSpec, then the
 * containerSpecOpts it applies when it creates the container record).
 */
import { hostname as osHostname } from 'node:os';
import {
  type ContainerConfig,
  type Mount,
  NamespaceMode,
  type PodSandboxConfig,
} from '../../api/k8s/cri/runtime/v1/api.js';
import { invalidArgument } from '../../core/errdefs/index.js';
import * as A from './annotations.js';
import { applyCapabilities, clearAmbient, grantAllCapabilities } from './capabilities.js';
import {
  criBaseSpec,
  DEFAULT_PATH_ENV,
  replaceOrAppendEnv,
  resourcesOf,
  setNamespace,
} from './defaults.js';
import { applyConfigDevices, hostDevices } from './devices.js';
import { applyCriMounts, sandboxFileMounts } from './mounts.js';
import { platformOf } from './platform.js';
import {
  applyResources,
  cgroupsPathOf,
  passthroughAnnotations,
  restrictedOomScoreAdj,
} from './resources.js';
import { checkApparmorUnsupported, requestedSeccomp, seccompFor } from './security-profile.js';
import type { ImageConfig, OciSpec, SpecHost, SpecOptions } from './types.js';
import { addSupplementalGroups, applyContainerUser, RootfsIds, type RootfsReader } from './user.js';

/** What a container's spec needs of its sandbox (a subset of the sandbox store's record). */
export interface SandboxRef {
  id: string;
  /** The pause container's pid: the container joins its namespaces through /proc/<pid>/ns. */
  pid: number;
  config: PodSandboxConfig;
  /** The sandbox's root directory: `hostname`, `hosts`, `resolv.conf`. */
  dir: string;
  /** The sandbox's /dev/shm; unused under host IPC. */
  shmPath?: string;
}

export interface ContainerSpecInput {
  id: string;
  sandbox: SandboxRef;
  config: ContainerConfig;
  /** The image's config section. */
  image: ImageConfig;
  /** The image's name as the container record names it (annotation io.kubernetes.cri.image-name). */
  imageName: string;
  /** Reads the container rootfs' files (/etc/passwd, /etc/group): the caller mounts the snapshot. */
  readRootfsFile: RootfsReader;
  /** The image's volumes (see imageVolumeMounts), mounted after the config's mounts. */
  volumeMounts?: readonly Mount[];
  /**
   * The pid of the container a TARGET PID namespace names, in the same
   * sandbox and running; the caller's errors are reported as "invalid target container".
   */
  targetPid?: (containerId: string) => Promise<number>;
  /** The host's name, for HOSTNAME when the pod sets none (default: os.hostname()). */
  hostHostname?: string;
  options: SpecOptions;
  host: SpecHost;
}

/**
 * The process's arguments: the config's command and args over the image's
 * entrypoint and cmd (containerd's WithProcessArgs, after Docker's rules):
 * a command replaces the entrypoint and drops the cmd; args alone replace
 * the cmd; an entrypoint of one empty string counts as none.
 */
export function resolveProcessArgs(
  config: Pick<ContainerConfig, 'command' | 'args'>,
  image: ImageConfig,
): string[] {
  let command = [...config.command];
  let args = [...config.args];
  if (command.length === 0) {
    if (args.length === 0) args = [...(image.Cmd ?? [])];
    const ep = image.Entrypoint ?? [];
    if (!(ep.length === 1 && ep[0] === '')) command = [...ep];
  }
  if (command.length === 0 && args.length === 0) {
    throw invalidArgument('failed to generate spec: no command specified');
  }
  return [...command, ...args];
}

/**
 * The OCI spec of a container in a pod; see the index module for what it
 * covers. Fails `invalid_argument` on a bad config (no command, a bad
 * mount, device or seccomp profile, a privileged container in an
 * unprivileged pod) and `not_found` for a user or group the rootfs lacks.
 */
export async function buildContainerSpec(input: ContainerSpecInput): Promise<OciSpec> {
  const { id, sandbox, config, image, options, host } = input;
  const sc = config.linux?.securityContext;
  const sandboxConfig = sandbox.config;
  const spec = criBaseSpec(id);

  spec.process.args = resolveProcessArgs(config, image);
  spec.process.env = replaceOrAppendEnv(spec.process.env ?? [], [DEFAULT_PATH_ENV]);
  // containerd's WithNewPrivileges; no_new_privs sets it again below
  delete spec.process.noNewPrivileges;
  if (config.workingDir !== '') spec.process.cwd = config.workingDir;
  else if (image.WorkingDir) spec.process.cwd = image.WorkingDir;
  if (config.tty) {
    spec.process.terminal = true;
    spec.process.env.push('TERM=xterm');
  }
  const hostname = sandboxConfig.hostname || input.hostHostname || osHostname();
  spec.process.env = replaceOrAppendEnv(spec.process.env, [`HOSTNAME=${hostname}`]);
  const env = [...(image.Env ?? []), ...config.envs.map((e) => `${e.key}=${e.value}`)];
  if (env.length > 0) spec.process.env = replaceOrAppendEnv(spec.process.env, env);

  // SELinux labels: none on this machine.
  const extra = [
    ...(await sandboxFileMounts(sandbox, config, host)),
    ...(input.volumeMounts ?? []),
  ];
  await applyCriMounts(spec, config, extra, host);

  if (!options.disableProcMount) {
    // containerd clears the defaults (containerd#5029): kubelet sends the paths it wants
    spec.linux.maskedPaths = [...(sc?.maskedPaths ?? [])];
    spec.linux.readonlyPaths = [...(sc?.readonlyPaths ?? [])];
  }

  await applyConfigDevices(spec, config, host, options.deviceOwnershipFromSecurityContext ?? false);
  applyCapabilities(spec, sc?.capabilities, options.daemonCapabilities);

  const privileged = sc?.privileged ?? false;
  if (privileged) {
    if (!sandboxConfig.linux?.securityContext?.privileged) {
      throw invalidArgument('no privileged container allowed in sandbox');
    }
    grantAllCapabilities(spec, options.daemonCapabilities);
    delete spec.linux.maskedPaths;
    delete spec.linux.readonlyPaths;
    for (const m of spec.mounts) {
      if (m.type === 'sysfs' || m.type === 'cgroup') {
        m.options = (m.options ?? []).map((o) => (o === 'ro' ? 'rw' : o));
      }
    }
    delete spec.linux.seccomp;
    if (!options.privilegedWithoutHostDevices) {
      spec.linux.devices = [...(spec.linux.devices ?? []), ...(await hostDevices(host))];
      resourcesOf(spec).devices = [{ allow: true, access: 'rwm' }];
    }
  }
  clearAmbient(spec);
  if (sc?.noNewPrivs) spec.process.noNewPrivileges = true;
  if (sc?.readonlyRootfs) spec.root.readonly = true;

  if (options.disableCgroup) spec.linux.cgroupsPath = '';
  else {
    applyResources(spec, config.linux?.resources, options);
    const parent = sandboxConfig.linux?.cgroupParent ?? '';
    if (parent !== '') spec.linux.cgroupsPath = cgroupsPathOf(parent, id);
  }
  // Intel RDT classes: not supported here (containerd sets none without its RDT config).

  const annotations: Record<string, string> = {
    ...passthroughAnnotations(sandboxConfig.annotations, options.podAnnotations),
    ...passthroughAnnotations(config.annotations, options.containerAnnotations),
  };

  const nsOpts = sc?.namespaceOptions;
  let targetPid = sandbox.pid;
  if (nsOpts?.pid === NamespaceMode.TARGET) {
    if (!input.targetPid) throw invalidArgument('invalid target container: no container lookup');
    try {
      targetPid = await input.targetPid(nsOpts.targetId);
    } catch (err) {
      throw invalidArgument(`invalid target container: ${(err as Error).message}`, { cause: err });
    }
  }

  const resources = config.linux?.resources;
  if (resources) {
    spec.process.oomScoreAdj = restrictedOomScoreAdj(Number(resources.oomScoreAdj), options);
  }
  setNamespace(spec, { type: 'network', path: `/proc/${sandbox.pid}/ns/net` });
  setNamespace(spec, { type: 'ipc', path: `/proc/${sandbox.pid}/ns/ipc` });
  setNamespace(spec, { type: 'uts', path: `/proc/${sandbox.pid}/ns/uts` });
  if (nsOpts?.pid !== NamespaceMode.CONTAINER) {
    setNamespace(spec, { type: 'pid', path: `/proc/${targetPid}/ns/pid` });
  }
  addSupplementalGroups(spec, sc?.supplementalGroups ?? []);
  Object.assign(annotations, {
    [A.ContainerType]: A.ContainerTypeContainer,
    [A.SandboxID]: sandbox.id,
    [A.SandboxNamespace]: sandboxConfig.metadata?.namespace ?? '',
    [A.SandboxUID]: sandboxConfig.metadata?.uid ?? '',
    [A.SandboxName]: sandboxConfig.metadata?.name ?? '',
    [A.ContainerName]: config.metadata?.name ?? '',
    [A.ImageName]: input.imageName,
  });
  spec.annotations = annotations;
  // cgroupns hides the host's cgroup tree; v1 hosts and privileged containers keep it
  if (options.cgroupV2 && !privileged) setNamespace(spec, { type: 'cgroup' });

  // What containerd applies when it creates the container record: user, apparmor, seccomp.
  await applyContainerUser(spec, sc, image.User, new RootfsIds(input.readRootfsFile));
  checkApparmorUnsupported(sc);
  const seccomp = await seccompFor({
    profile: requestedSeccomp(sc, options.unsetSeccompProfile),
    privileged,
    seccompEnabled: options.seccompEnabled ?? true,
    spec,
    platform: platformOf(options),
    host,
  });
  if (seccomp) spec.linux.seccomp = seccomp;
  return spec;
}
