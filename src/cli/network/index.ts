/**
 * @module network
 * `berth`'s container networks, nerdctl's design: CNI run by OCI hooks
 * (`berth internal oci-hook createRuntime|postStop`) that runc runs, with
 * state (CNI result cache, IPAM, pinned netns) under berth's data root.
 */
export {
  type Attached,
  type AttachRequest,
  attachNetwork,
  CONTAINER_IF,
  type ContainerAddress,
  type ContainerNetworkInfo,
  cniContainerId,
  containerNetworkInfo,
  pinnedNetnsPath,
  releaseNetwork,
} from './attach.js';
export {
  DEFAULT_BRIDGE,
  DEFAULT_CONFLIST_FILE,
  DEFAULT_NETWORK,
  DEFAULT_SUBNET,
  defaultNetworkConflist,
  ensureDefaultNetwork,
  findNetwork,
  ipamDataDir,
  type NetworkConflistOptions,
} from './conflist.js';
export {
  type ContainerFiles,
  containerFilePaths,
  DEFAULT_NAMESERVERS,
  hostsContent,
  resolvConfContent,
  writeContainerFiles,
  writeInPlace,
} from './files.js';
export {
  cniBinDirs,
  DEFAULT_NETWORK_FLAGS,
  type HookFlags,
  hookArgs,
  type NetworkFlags,
  networkFlagsFromEnv,
  parseHookArgs,
} from './flags.js';
export { type HookStage, type OciState, ociHookMain, parseOciState, runOciHook } from './hook.js';
export { ANY_HOST_IP, allocateHostPorts, exposedPortMappings, parsePublish } from './ports.js';
export {
  applyData,
  HOOK_ENV,
  type NetworkSpec,
  type NetworkSpecOptions,
  networkSpec,
  type OciHook,
} from './spec.js';
