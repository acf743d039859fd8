/**
 * @module
 * OCI runtime specs from CRI configs, as containerd 1.6.20's CRI plugin
 * builds them (pkg/cri/server sandbox_run_linux.go, container_create_linux.go,
 * pkg/cri/opts, oci, contrib/seccomp). Pure functions over injected host
 * access ({@link SpecHost}, a rootfs file reader), so every rule is unit
 * tested without root.
 *
 * What each builder covers:
 *
 * - {@link buildSandboxSpec} (the pause container): args = image Entrypoint
 *   + Cmd (both empty: error), image env and working dir, user = the pod's
 *   run_as_user[:run_as_group] else the image's USER, read-only rootfs,
 *   hostname; namespaces pid/ipc/uts/mount/network (network = the pinned
 *   netns; host network drops network and uts, host PID drops pid, host IPC
 *   drops ipc); mounts = containerd's defaults without /run, plus the
 *   sandbox /dev/shm (host's under host IPC) and resolv.conf bound
 *   read-only; sysctls; supplemental groups (reset by the image USER, as in
 *   containerd); cgroups path `/k8s.io/<id>` or `<cgroup_parent>/<id>`
 *   (`slice:cri-containerd:id` for systemd slices); CPU shares 2;
 *   oom_score_adj -998 raised to the daemon's under restrict_oom_score_adj;
 *   the pod's seccomp profile (none when privileged); annotations
 *   container-type=sandbox, sandbox-id/-name/-namespace/-uid/-log-directory,
 *   the sandbox-cpu/memory ones when the pod has resources, and pod
 *   annotations the runtime passes through. Default masked/read-only paths
 *   and capabilities stay; no rlimits. The caller creates the files
 *   (hostname, hosts, resolv.conf, shm) and fills in the netns path.
 * - {@link buildContainerSpec}: args = {@link resolveProcessArgs}; env =
 *   PATH, TERM=xterm (tty), HOSTNAME, image env then config env; cwd =
 *   config, image, `/`; tty; user from run_as_username / run_as_user /
 *   run_as_group or the image USER resolved in the rootfs' /etc/passwd and
 *   /etc/group, additional gids from /etc/group membership and
 *   supplemental_groups; capabilities: containerd's defaults, add/drop with
 *   `ALL`, no ambient; privileged (pod must be privileged): the daemon's
 *   capabilities, the host's devices, all devices allowed, no masked or
 *   read-only paths, rw sysfs and cgroupfs, no seccomp; masked/readonly
 *   paths exactly as the config gives them (containerd clears its defaults
 *   unless disable_proc_mount); read-only rootfs; no_new_privs; seccomp
 *   (`runtime/default`, `docker/default`, `localhost/<path>`, unconfined);
 *   AppArmor refused (none on this machine); namespaces of the sandbox
 *   (/proc/<pid>/ns/{net,ipc,uts}; PID: POD = the sandbox's, CONTAINER =
 *   new, TARGET = another container's, NODE = the sandbox's, which is the
 *   host's); a cgroup namespace on cgroup v2 unless privileged; mounts:
 *   sandbox /etc/hostname, /etc/hosts, /etc/resolv.conf, /dev/shm, image
 *   volumes, config mounts with propagation checked against mountinfo,
 *   missing host paths created, cgroupfs read-only; devices; resources
 *   (cpu period/quota/shares/cpuset, memory and swap, hugepages, unified);
 *   oom_score_adj (restricted); cgroups path; annotations container-type=
 *   container, container-name, sandbox-id/-name/-namespace/-uid,
 *   image-name, and passed-through ones. No rlimits (containerd removes
 *   them).
 * - {@link imageVolumeMounts}: the image's VOLUMEs as fresh directories
 *   (the caller copies the image's content into them before start).
 * - {@link defaultSeccompProfile}: containerd 1.6's default profile.
 * - {@link realSpecHost}, {@link hostSpecFacts}: the real host and the
 *   daemon facts SpecOptions needs.
 */
export * as annotations from './annotations.js';
export { applyCapabilities, effectiveCapabilities, KNOWN_CAPABILITIES } from './capabilities.js';
export {
  buildContainerSpec,
  type ContainerSpecInput,
  resolveProcessArgs,
  type SandboxRef,
} from './container-spec.js';
export { CRI_NAMESPACE, defaultUnixSpec, OCI_VERSION } from './defaults.js';
export { hostSpecFacts, realSpecHost } from './host.js';
export { imageVolumeMounts, type SandboxFiles } from './mounts.js';
export { applyResources, cgroupsPathOf, restrictedOomScoreAdj } from './resources.js';
export {
  buildSandboxSpec,
  DEFAULT_SANDBOX_CPU_SHARES,
  DEFAULT_SANDBOX_OOM_ADJ,
  type SandboxSpecInput,
} from './sandbox-spec.js';
export { DEFAULT_ALLOWED_SYSCALLS, defaultSeccompProfile } from './seccomp-default.js';
export { loadSeccompProfile } from './security-profile.js';
export type * from './types.js';
export { generateUserString, parseGroup, parsePasswd, type RootfsReader } from './user.js';
