/**
 * @module
 * The sandbox manager's names and timings.
 */

/** The namespace every CRI object lives in, as containerd's. */
export const CRI_NAMESPACE = 'k8s.io';
/** The OCI runtime spec's type URL in container records. */
export const SPEC_TYPE_URL = 'types.containerd.io/opencontainers/runtime-spec/1/Spec';
export const SIGKILL = 9;
export const LEASE_TTL_MS = 24 * 3600 * 1000;
/** How long StopPodSandbox waits for a SIGKILLed pause to be reported gone. */
export const STOP_WAIT_MS = 10_000;
