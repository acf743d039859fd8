import type { FlagSpec } from './command.js';

/** berthd's socket: the default of `--address` (the client library's DEFAULT_ADDRESS, repeated to keep startup light). */
export const DEFAULT_ADDRESS = '/run/berth/berth.sock';

/** The options every command shares; flags before the command, else the environment, else defaults. */
export interface GlobalOptions {
  /** The daemon's socket (berthd or containerd). */
  readonly address: string;
  readonly namespace: string;
  readonly debug: boolean;
  /** berth's own state: container dirs (hosts, resolv.conf, logs), CNI results and IP allocations. */
  readonly dataRoot: string;
  /** Where the CNI plugin executables are. */
  readonly cniPath: string;
  /** Where berth's CNI network configs are (the default `bridge` network is written here). */
  readonly cniConfDir: string;
  /** containerd's hosts.toml directory for registries. */
  readonly hostsDir: string;
}

export const GLOBAL_FLAGS: readonly FlagSpec[] = [
  { name: 'address', short: 'a', type: 'string', help: 'daemon socket (env CONTAINERD_ADDRESS)' },
  { name: 'namespace', short: 'n', type: 'string', help: 'namespace (env CONTAINERD_NAMESPACE)' },
  { name: 'debug', short: 'D', type: 'bool', help: 'debug output: stacks of errors' },
  { name: 'data-root', type: 'string', help: "berth's state (env BERTH_DATA_ROOT)" },
  { name: 'cni-path', type: 'string', help: 'CNI plugin directory (env BERTH_CNI_PATH)' },
  {
    name: 'cni-netconfpath',
    type: 'string',
    help: 'CNI network config directory (env BERTH_CNI_NETCONFPATH)',
  },
  {
    name: 'hosts-dir',
    type: 'string',
    help: 'registry hosts.toml directory (env BERTH_HOSTS_DIR)',
  },
  { name: 'help', short: 'h', type: 'bool', help: 'help' },
  { name: 'version', short: 'v', type: 'bool', help: 'print the version' },
];

/** The global options from parsed flags and the environment. */
export function globalOptions(
  flags: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
): GlobalOptions {
  const s = (name: string) => (typeof flags[name] === 'string' ? (flags[name] as string) : '');
  return {
    address: s('address') || env.CONTAINERD_ADDRESS || DEFAULT_ADDRESS,
    namespace: s('namespace') || env.CONTAINERD_NAMESPACE || 'default',
    debug: flags.debug === true,
    dataRoot: s('data-root') || env.BERTH_DATA_ROOT || '/var/lib/berth-cli',
    cniPath: s('cni-path') || env.BERTH_CNI_PATH || '/usr/lib/cni',
    cniConfDir: s('cni-netconfpath') || env.BERTH_CNI_NETCONFPATH || '/etc/berth/cni/net.d',
    hostsDir: s('hosts-dir') || env.BERTH_HOSTS_DIR || '/etc/berth/certs.d',
  };
}

/** The global flags as argv, for processes berth starts itself (OCI hooks, the logger). */
export function globalArgv(g: GlobalOptions): string[] {
  return [
    '--address',
    g.address,
    '--namespace',
    g.namespace,
    '--data-root',
    g.dataRoot,
    '--cni-path',
    g.cniPath,
    '--cni-netconfpath',
    g.cniConfDir,
    '--hosts-dir',
    g.hostsDir,
  ];
}
