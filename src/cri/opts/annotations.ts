/**
 * @module
 * The OCI annotations containerd's CRI plugin writes into specs (its
 * pkg/cri/annotations keys), read by runtimes such as Kata and by tools.
 */
export const ContainerType = 'io.kubernetes.cri.container-type';
export const ContainerTypeSandbox = 'sandbox';
export const ContainerTypeContainer = 'container';
export const SandboxID = 'io.kubernetes.cri.sandbox-id';
export const SandboxCPUPeriod = 'io.kubernetes.cri.sandbox-cpu-period';
export const SandboxCPUQuota = 'io.kubernetes.cri.sandbox-cpu-quota';
export const SandboxCPUShares = 'io.kubernetes.cri.sandbox-cpu-shares';
export const SandboxMem = 'io.kubernetes.cri.sandbox-memory';
export const SandboxLogDir = 'io.kubernetes.cri.sandbox-log-directory';
export const SandboxNamespace = 'io.kubernetes.cri.sandbox-namespace';
export const SandboxUID = 'io.kubernetes.cri.sandbox-uid';
export const SandboxName = 'io.kubernetes.cri.sandbox-name';
export const ContainerName = 'io.kubernetes.cri.container-name';
export const ImageName = 'io.kubernetes.cri.image-name';
