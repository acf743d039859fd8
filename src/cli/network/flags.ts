import { invalidArgument } from '../../core/errdefs/index.js';

/**
 * Where `berth` keeps its network state and finds CNI: what the CLI knows
 * from its global flags and hands to the OCI hooks it puts in a container's
 * spec, so the hook (run by runc, with no environment of the CLI's) works on
 * exactly the same directories.
 */
export interface NetworkFlags {
  /** berth's own data: CNI result cache, IPAM allocations, pinned netns files. */
  dataRoot: string;
  /** The CNI plugin binaries' directory (or `:`-separated directories). */
  cniPath: string;
  /** The CNI network configs' directory. */
  cniConfDir: string;
}

/** Defaults; Debian installs its containernetworking-plugins in /usr/lib/cni. */
export const DEFAULT_NETWORK_FLAGS: NetworkFlags = {
  dataRoot: '/var/lib/berth-cli',
  cniPath: '/usr/lib/cni',
  cniConfDir: '/etc/berth/cni/net.d',
};

/** The defaults, overridden by BERTH_DATA_ROOT, BERTH_CNI_PATH and BERTH_CNI_NETCONFPATH. */
export function networkFlagsFromEnv(env: NodeJS.ProcessEnv = process.env): NetworkFlags {
  return {
    dataRoot: env.BERTH_DATA_ROOT || DEFAULT_NETWORK_FLAGS.dataRoot,
    cniPath: env.BERTH_CNI_PATH || DEFAULT_NETWORK_FLAGS.cniPath,
    cniConfDir: env.BERTH_CNI_NETCONFPATH || DEFAULT_NETWORK_FLAGS.cniConfDir,
  };
}

/** The plugin directories of `cniPath`. */
export function cniBinDirs(flags: NetworkFlags): string[] {
  return flags.cniPath.split(':').filter((d) => d !== '');
}

/** What a hook needs besides the OCI state: the flags and the containerd namespace. */
export interface HookFlags extends NetworkFlags {
  namespace: string;
}

const FLAG_NAMES = {
  '--data-root': 'dataRoot',
  '--cni-path': 'cniPath',
  '--cni-netconfpath': 'cniConfDir',
  '--namespace': 'namespace',
} as const;

/** The global arguments that give a hook `flags` and `namespace` back (see {@link parseHookArgs}). */
export function hookArgs(flags: NetworkFlags, namespace: string): string[] {
  return [
    '--data-root',
    flags.dataRoot,
    '--cni-path',
    flags.cniPath,
    '--cni-netconfpath',
    flags.cniConfDir,
    '--namespace',
    namespace,
  ];
}

/**
 * Parses what {@link hookArgs} made (`--flag value` or `--flag=value`, in
 * any order); every one of the four is required, since a hook must not fall
 * back to defaults the CLI did not use. Arguments that are not among them
 * are answered in `rest`.
 */
export function parseHookArgs(argv: readonly string[]): { flags: HookFlags; rest: string[] } {
  const got: Partial<Record<keyof HookFlags, string>> = {};
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const key = FLAG_NAMES[name as keyof typeof FLAG_NAMES];
    if (key === undefined) {
      rest.push(arg);
      continue;
    }
    let value: string | undefined;
    if (eq > 0) value = arg.slice(eq + 1);
    else {
      value = argv[i + 1];
      i++;
    }
    if (value === undefined) throw invalidArgument(`oci hook: flag ${name} needs a value`);
    got[key] = value;
  }
  for (const [name, key] of Object.entries(FLAG_NAMES)) {
    if (!got[key]) throw invalidArgument(`oci hook: missing ${name}`);
  }
  return { flags: got as HookFlags, rest };
}
