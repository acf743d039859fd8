import { withHostNamespace, withLinuxNamespace } from '../../client/oci/spec-opts.js';
import type { Mount, Spec, SpecClient, SpecContainer, SpecOpt } from '../../client/oci/types.js';
import { invalidArgument } from '../../core/errdefs/index.js';
import { Labels, type PortMapping } from '../labels.js';
import { containerFilePaths, writeContainerFiles } from './files.js';

/** A runtime-spec hook: `path` is run with `args` (argv, argv[0] included) and only `env`. */
export interface OciHook {
  path: string;
  args: string[];
  env: string[];
}

export interface NetworkSpecOptions {
  /** `bridge`, `host`, `none`, or a CNI network's name. */
  network: string;
  ports: readonly PortMapping[];
  hostname: string;
  /** The container's name, also in its /etc/hosts. */
  name?: string;
  /** The directory holding the container's hosts, resolv.conf and hostname. */
  containerStateDir: string;
  namespace: string;
  id: string;
  hook: {
    /** How to run berth: `[process.execPath, '<berth entry>']`; argv0[0] must be absolute. */
    argv0: string[];
    /** What the hook needs to find berth's state: `hookArgs(flags, namespace)`, plus any other global flag. */
    globalArgs: string[];
  };
}

/** What a container needs for its network, as plain data, and the SpecOpt applying it. */
export interface NetworkSpec {
  /** runtime-spec hooks by stage (none on the host's network). */
  hooks: { createRuntime?: OciHook[]; poststop?: OciHook[] };
  /** Bind mounts of /etc/hosts, /etc/resolv.conf and /etc/hostname from the state dir. */
  mounts: Mount[];
  /** `new`: a network namespace of its own (bridge, none, CNI networks); `host`: the host's. */
  netns: 'new' | 'host';
  hostname: string;
  /** What the hooks read from the OCI state (runc passes the spec's annotations). */
  annotations: Record<string, string>;
  /** Changes the spec: namespace, hostname, mounts, hooks, annotations. Writes no file. */
  apply: SpecOpt;
  /**
   * Writes the three files into the state dir (made if need be). They must
   * exist before runc bind-mounts them, which is before the createRuntime
   * hook runs: call it after the container's record is made (so a crash
   * between the two leaves no state dir without a container) and before its
   * first task.
   */
  writeFiles(): void;
}

/** The hook's environment: PATH, for the CNI plugins to find iptables and for runc's lookups. */
export const HOOK_ENV = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'];

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/**
 * The spec changes for `--network <network>`, nerdctl's design: the CLI
 * does no network work at create time; runc runs berth itself as the
 * container's createRuntime hook (CNI ADD, /etc/hosts) and postStop hook
 * (CNI DEL), so whoever starts or deletes the task (the CLI, berthd's
 * restart monitor, a shim cleaning up after a crash) sets up and releases
 * the network. On `host` there are no hooks and the host's hosts and
 * resolv.conf are copied; on `none` there are no hooks (runc brings up `lo`).
 */
export function networkSpec(opts: NetworkSpecOptions): NetworkSpec {
  const { network } = opts;
  if (!NAME.test(network)) throw invalidArgument(`invalid network ${JSON.stringify(network)}`);
  if (opts.hook.argv0.length === 0 || !opts.hook.argv0[0]?.startsWith('/')) {
    throw invalidArgument('network spec: the hook command must start with an absolute path');
  }
  const host = network === 'host';
  const files = containerFilePaths(opts.containerStateDir);
  const mounts: Mount[] = [
    { destination: '/etc/hosts', type: 'bind', source: files.hosts, options: ['bind', 'rprivate'] },
    {
      destination: '/etc/resolv.conf',
      type: 'bind',
      source: files.resolvConf,
      options: ['bind', 'rprivate'],
    },
    {
      destination: '/etc/hostname',
      type: 'bind',
      source: files.hostname,
      options: ['bind', 'rprivate'],
    },
  ];
  const hook = (stage: 'createRuntime' | 'postStop'): OciHook => {
    const args = [...opts.hook.argv0, 'internal', 'oci-hook', stage, ...opts.hook.globalArgs];
    return { path: opts.hook.argv0[0] as string, args, env: [...HOOK_ENV] };
  };
  // `none` needs no hook either: runc brings up `lo` in a network namespace
  // it creates (its loopback network), which is all `none` has; a hook
  // would cost two node starts per container for nothing.
  const hooks: NetworkSpec['hooks'] =
    host || network === 'none'
      ? {}
      : { createRuntime: [hook('createRuntime')], poststop: [hook('postStop')] };
  const annotations: Record<string, string> = {
    [Labels.network]: network,
    [Labels.ports]: JSON.stringify(opts.ports),
    [Labels.hostname]: opts.hostname,
    [Labels.stateDir]: opts.containerStateDir,
    ...(opts.name ? { [Labels.name]: opts.name } : {}),
  };
  const apply = async (client: SpecClient, container: SpecContainer, spec: Spec): Promise<void> => {
    await (host ? withHostNamespace('network') : withLinuxNamespace({ type: 'network' }))(
      client,
      container,
      spec,
    );
    applyData(spec, { hooks, mounts, hostname: opts.hostname, annotations });
  };
  return {
    hooks,
    mounts,
    netns: host ? 'host' : 'new',
    hostname: opts.hostname,
    annotations,
    apply,
    writeFiles: () => {
      writeContainerFiles(opts.containerStateDir, { hostNetwork: host, hostname: opts.hostname });
    },
  };
}

/** The plain-data part of {@link NetworkSpec.apply}: hooks appended per stage, mounts replacing any on the same destinations. */
export function applyData(
  spec: Spec,
  data: Pick<NetworkSpec, 'hooks' | 'mounts' | 'hostname' | 'annotations'>,
): void {
  if (data.hostname !== '') spec.hostname = data.hostname;
  const dests = new Set(data.mounts.map((m) => m.destination));
  spec.mounts = [
    ...(spec.mounts ?? []).filter((m) => !dests.has(m.destination)),
    ...data.mounts.map((m) => ({ ...m, options: [...(m.options ?? [])] })),
  ];
  const specHooks = { ...(spec.hooks ?? {}) } as Record<string, unknown>;
  for (const [stage, list] of Object.entries(data.hooks)) {
    const prior = Array.isArray(specHooks[stage]) ? (specHooks[stage] as unknown[]) : [];
    specHooks[stage] = [
      ...prior,
      ...(list as OciHook[]).map((h) => ({ ...h, args: [...h.args], env: [...h.env] })),
    ];
  }
  if (Object.keys(specHooks).length > 0) spec.hooks = specHooks;
  spec.annotations = { ...(spec.annotations ?? {}), ...data.annotations };
}
