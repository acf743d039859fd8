/**
 * @module cni
 * Pod networking through CNI plugins, as containerd gets it from libcni and
 * go-cni: network configs from a conf dir, plugin chains run per the CNI
 * spec (ADD, CHECK, DEL with prevResult), results cached under berthd's
 * state so a DEL after a restart undoes what the ADD did.
 */
export { type CacheEntry, ResultCache } from './cache.js';
export { CniConfig, type CniConfigOptions, DEFAULT_PLUGIN_TIMEOUT_MS } from './cni-config.js';
export {
  CONF_EXTENSIONS,
  confFiles,
  loadConfDir,
  type NetworkConfigList,
  type PluginConf,
  parseConf,
  parseConfFile,
  parseConfList,
} from './conf.js';
export {
  type CniCommand,
  findPlugin,
  pluginConfig,
  pluginEnv,
  type RuntimeConf,
} from './invoke.js';
export {
  type Attachment,
  type CniConfigInfo,
  CniNetworks,
  type CniNetworksOptions,
  LOOPBACK_NETWORK,
  type NetworkStatus,
  type PodNetworkRequest,
  type PodNetworkResult,
  type PortMapping,
  runtimeConf,
} from './networks.js';
export { type CniResult, type PodIp, parseResult, podIps, resultAs } from './result.js';
