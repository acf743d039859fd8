/**
 * @module
 * The container service's names and timings.
 */

/** The namespace CRI objects live in, as containerd keeps them. */
export const K8S_NAMESPACE = 'k8s.io';
/** The CRI plugin's subdirectory (of its root and state directories) for containers. */
export const CONTAINERS_DIR = 'containers';
export const SIGKILL = 9;
/** How long an exit waits by default for the container's output to be copied before its task goes. */
export const OUTPUT_DRAIN_MS = 5_000;
export const LINUX_RESOURCES_TYPE_URL =
  'types.containerd.io/opencontainers/runtime-spec/1/LinuxResources';
/** Delays between attempts to record an exit that failed (containerd backs off likewise). */
export const EXIT_RETRY_MS = [1000, 2000, 4000, 8000, 16000];
