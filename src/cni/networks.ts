import { existsSync } from 'node:fs';
import { failedPrecondition, isBerthError, newError } from '../core/errdefs/index.js';
import { type Logger, nullLogger } from '../core/log/index.js';
import type { CacheEntry } from './cache.js';
import { CniConfig } from './cni-config.js';
import { loadConfDir, type NetworkConfigList, type PluginConf, parseConfList } from './conf.js';
import { type RuntimeConf, validateRuntimeConf } from './invoke.js';
import { type CniResult, type PodIp, podIps } from './result.js';

/** A CRI port mapping as the portmap plugin takes it (`runtimeConfig.portMappings`). */
export interface PortMapping {
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp' | 'sctp';
  /** "" binds every host address. */
  hostIP: string;
}

export interface PodNetworkRequest {
  /** The sandbox id: CNI_CONTAINERID. */
  id: string;
  /** The pod's pinned netns; a missing file (or "") is passed as "" on DEL. */
  netnsPath: string;
  /** The default network's interface (CNI_IFNAME); further networks get eth1, eth2, ... */
  ifName?: string;
  /** CNI_ARGS, in order: IgnoreUnknown, K8S_POD_NAMESPACE, K8S_POD_NAME, K8S_POD_INFRA_CONTAINER_ID, K8S_POD_UID. */
  args: Record<string, string>;
  portMappings: PortMapping[];
  dns?: { servers: string[]; searches: string[]; options: string[] };
  /** Further capability arguments (`bandwidth`, `cgroupPath`, `io.kubernetes.cri.pod-annotations`, ...). */
  capabilityArgs?: Record<string, unknown>;
}

/** One network attached to a pod, with its plugin chain's final result (1.0.0 shape). */
export interface Attachment {
  network: string;
  ifName: string;
  result: CniResult;
}

export interface PodNetworkResult {
  /** The default network's addresses on its interface, IPv4 first. */
  ips: PodIp[];
  /** Every network's result, in setup order (loopback first). */
  raw: Attachment[];
}

export interface NetworkStatus {
  ready: boolean;
  /** Why not ready, in go-cni's words; "" when ready. */
  message: string;
}

/** go-cni's ConfigResult, field names as containerd marshals them. */
export interface CniConfigInfo {
  PluginDirs: string[];
  PluginConfDir: string;
  PluginMaxConfNum: number;
  Prefix: string;
  Networks: {
    Config: {
      Name: string;
      CNIVersion: string;
      Plugins: { Network: Record<string, unknown>; Source: string }[];
      Source: string;
    };
    IFName: string;
  }[];
}

/** A plugin's fields as libcni's types.NetConf marshals them. */
function netConf(list: NetworkConfigList, plugin: PluginConf): Record<string, unknown> {
  const ipam = plugin.ipam as { type?: unknown } | undefined;
  return {
    cniVersion: list.cniVersion,
    name: list.name,
    type: plugin.type,
    ...(plugin.capabilities ? { capabilities: plugin.capabilities } : {}),
    ipam: typeof ipam?.type === 'string' ? { type: ipam.type } : {},
    dns: plugin.dns ?? {},
  };
}

export interface CniNetworksOptions {
  binDirs: string[];
  confDir: string;
  /** How many conf files make default networks (containerd's max_conf_num, default 1). */
  maxConfNum: number;
  /** berthd's own directory for the result cache. */
  cacheDir: string;
  log?: Logger;
  pluginTimeoutMs?: number;
  /** The environment plugins inherit (default: the daemon's). */
  env?: NodeJS.ProcessEnv;
}

/** The loopback network containerd adds before the configured ones (go-cni's WithLoNetwork). */
export const LOOPBACK_NETWORK: NetworkConfigList = parseConfList(
  JSON.stringify({ cniVersion: '0.3.1', name: 'cni-loopback', plugins: [{ type: 'loopback' }] }),
  'built-in loopback network',
);
const LOOPBACK_IF = 'lo';
const IF_PREFIX = 'eth';

type Loaded = { ok: true; networks: NetworkConfigList[] } | { ok: false; message: string };

interface Planned {
  network: NetworkConfigList;
  ifName: string;
}

/**
 * A pod's networking through CNI, as containerd's CRI plugin does it with
 * go-cni: the loopback network on `lo`, then the default networks (the
 * first `maxConfNum` files of the conf dir) on eth0, eth1, ... The conf dir
 * is read again at each call, so a config dropped in later is used.
 */
export class CniNetworks {
  private readonly cni: CniConfig;
  private readonly log: Logger;

  constructor(private readonly opts: CniNetworksOptions) {
    this.log = opts.log ?? nullLogger;
    this.cni = new CniConfig({
      binDirs: opts.binDirs,
      cacheDir: opts.cacheDir,
      ...(opts.pluginTimeoutMs !== undefined ? { pluginTimeoutMs: opts.pluginTimeoutMs } : {}),
      ...(opts.env ? { env: opts.env } : {}),
      log: this.log,
    });
  }

  private load(): Loaded {
    const dir = this.opts.confDir;
    let networks: NetworkConfigList[];
    try {
      networks = loadConfDir(dir, this.opts.maxConfNum);
    } catch (e) {
      return {
        ok: false,
        message: `cni config load failed: ${(e as Error).message}: invalid cni config`,
      };
    }
    if (networks.length === 0) {
      return {
        ok: false,
        message: `cni config load failed: no network config found in ${dir}: cni plugin not initialized`,
      };
    }
    return { ok: true, networks };
  }

  /** NetworkReady: whether the conf dir holds a valid network config now. */
  status(): NetworkStatus {
    const l = this.load();
    return l.ok ? { ready: true, message: '' } : { ready: false, message: l.message };
  }

  /** The default networks' configs as the conf dir holds them now; failed_precondition (status' message) when none. */
  networks(): NetworkConfigList[] {
    const l = this.load();
    if (!l.ok) throw failedPrecondition(l.message);
    return l.networks;
  }

  /**
   * The loaded networks in go-cni's GetConfig shape (containerd's verbose
   * Status `cniconfig`): the loopback network first, as containerd loads it.
   */
  configInfo(): CniConfigInfo {
    const l = this.load();
    return {
      PluginDirs: this.opts.binDirs,
      PluginConfDir: this.opts.confDir,
      PluginMaxConfNum: this.opts.maxConfNum,
      Prefix: IF_PREFIX,
      Networks: this.plan(l.ok ? l.networks : [], undefined).map((p) => ({
        Config: {
          Name: p.network.name,
          CNIVersion: p.network.cniVersion,
          Plugins: p.network.plugins.map((plugin) => ({
            Network: netConf(p.network, plugin),
            Source: JSON.stringify(plugin),
          })),
          Source: p.network.bytes,
        },
        IFName: p.ifName,
      })),
    };
  }

  private plan(networks: NetworkConfigList[], ifName: string | undefined): Planned[] {
    return [
      { network: LOOPBACK_NETWORK, ifName: LOOPBACK_IF },
      ...networks.map((network, i) => ({
        network,
        ifName: i === 0 && ifName ? ifName : `${IF_PREFIX}${i}`,
      })),
    ];
  }

  /**
   * ADD every network (loopback and the defaults, concurrently). If one
   * fails, every one is deleted again, in reverse order (so no address stays
   * allocated and no port mapping stays behind), and the first failure in
   * network order is thrown. An aborted `signal` (the CRI call canceled)
   * kills the running plugins and undoes the same way; the undo itself is
   * not cancelable.
   */
  async setup(
    req: PodNetworkRequest,
    opts: { signal?: AbortSignal } = {},
  ): Promise<PodNetworkResult> {
    const plan = this.plan(this.networks(), req.ifName);
    for (const p of plan) validateRuntimeConf(runtimeConf(req, p.ifName, req.netnsPath));
    // All at once, as go-cni's Setup attaches networks concurrently.
    const settled = await Promise.allSettled(
      plan.map((p) =>
        this.cni.addNetworkList(p.network, runtimeConf(req, p.ifName, req.netnsPath), opts.signal),
      ),
    );
    const raw: Attachment[] = [];
    let failure: unknown;
    settled.forEach((s, i) => {
      const p = plan[i] as Planned;
      if (s.status === 'fulfilled')
        raw.push({ network: p.network.name, ifName: p.ifName, result: s.value });
      else failure ??= s.reason;
    });
    if (failure !== undefined) {
      const undo: string[] = [];
      const netns = existsSync(req.netnsPath) ? req.netnsPath : '';
      for (const p of [...plan].reverse()) {
        const done = raw.find((a) => a.network === p.network.name && a.ifName === p.ifName);
        try {
          await this.deleteNetwork(p.network, runtimeConf(req, p.ifName, netns), done?.result);
        } catch (u) {
          this.log.error(
            {
              sandbox: req.id,
              network: p.network.name,
              ifName: p.ifName,
              err: (u as Error).message,
            },
            'cni: undoing a failed setup failed; the cached entry is kept for remove',
          );
          undo.push((u as Error).message);
        }
      }
      if (undo.length === 0 || !isBerthError(failure)) throw failure;
      throw newError(
        failure.kind,
        `${failure.message} (and undoing it failed: ${undo.join('; ')})`,
        {
          cause: failure,
        },
      );
    }
    const main = raw.find((a) => a.ifName === plan[1]?.ifName);
    return { ips: main ? podIps(main.result, main.ifName) : [], raw };
  }

  /** CHECK every network that supports it (spec 0.4.0+), with its cached result. */
  async check(req: PodNetworkRequest): Promise<void> {
    for (const p of this.plan(this.networks(), req.ifName)) {
      if (p.network === LOOPBACK_NETWORK) continue;
      const cached = await this.cni.cache.read(p.network.name, req.id, p.ifName);
      const network = cached?.network ?? p.network;
      await this.cni.checkNetworkList(
        network,
        runtimeConf(req, p.ifName, req.netnsPath),
        cached?.result,
      );
    }
  }

  /**
   * DEL one network. As go-cni, an error saying "not found" (or "no such
   * file or directory" when the netns is gone) counts as deleted already.
   */
  private async deleteNetwork(
    network: NetworkConfigList,
    rt: RuntimeConf,
    cached: CniResult | undefined,
  ): Promise<void> {
    try {
      await this.cni.delNetworkList(network, rt, cached);
    } catch (e) {
      const msg = (e as Error).message;
      if (
        !(
          (rt.netns === '' && msg.includes('no such file or directory')) ||
          msg.includes('not found')
        )
      ) {
        throw e;
      }
      this.log.debug(
        { sandbox: rt.containerId, network: network.name, err: msg },
        'cni: DEL: already gone',
      );
      await this.cni.cache.remove(network.name, rt.containerId, rt.ifName);
    }
  }

  /**
   * DEL every network the pod may have: those in the cache (with the
   * config, arguments and result their ADD used, even if the conf dir has
   * changed since) and the current ones (in case berthd stopped between a
   * plugin's ADD and the cache write). Idempotent: a missing netns is passed
   * as "" (plugins then release what they hold outside it), and, as go-cni,
   * errors saying "not found" count as already deleted.
   */
  async remove(req: PodNetworkRequest): Promise<void> {
    const netns = req.netnsPath && existsSync(req.netnsPath) ? req.netnsPath : '';
    const cached = await this.cni.cache.list(req.id, (path, err) =>
      this.log.warn(
        { sandbox: req.id, path, err: err.message },
        'cni: skipping an unreadable cache entry',
      ),
    );
    const todo = new Map<
      string,
      { network: NetworkConfigList; rt: RuntimeConf; cached?: CacheEntry }
    >();
    for (const c of cached) {
      todo.set(`${c.network.name}\0${c.rt.ifName}`, {
        network: c.network,
        rt: { ...c.rt, netns },
        cached: c,
      });
    }
    const l = this.load();
    for (const p of this.plan(l.ok ? l.networks : [], req.ifName)) {
      const key = `${p.network.name}\0${p.ifName}`;
      if (!todo.has(key))
        todo.set(key, { network: p.network, rt: runtimeConf(req, p.ifName, netns) });
    }
    // Last added first: eth1 before eth0 (lo goes alongside, below).
    const order = (ifName: string) => Number(/(\d+)$/.exec(ifName)?.[1] ?? 0);
    const items = [...todo.values()].sort((a, b) => order(b.rt.ifName) - order(a.rt.ifName));
    const errors: Error[] = [];
    const del = async (it: (typeof items)[number]) => {
      try {
        await this.deleteNetwork(it.network, it.rt, it.cached?.result);
      } catch (e) {
        errors.push(e as Error);
      }
    };
    // lo is independent of the others: its DEL runs alongside theirs, which go one by one, last added first.
    const lo = items.filter((it) => it.rt.ifName === LOOPBACK_IF);
    const rest = items.filter((it) => it.rt.ifName !== LOOPBACK_IF);
    await Promise.all([
      ...lo.map(del),
      (async () => {
        for (const it of rest) await del(it);
      })(),
    ]);
    const first = errors[0];
    if (first === undefined) return;
    if (errors.length === 1 || !isBerthError(first)) throw first;
    throw newError(first.kind, errors.map((e) => e.message).join('; '), { cause: first });
  }
}

/** The RuntimeConf of a pod on one interface: CNI_ARGS and the capability arguments as containerd passes them. */
export function runtimeConf(req: PodNetworkRequest, ifName: string, netns: string): RuntimeConf {
  const capabilityArgs: Record<string, unknown> = { ...req.capabilityArgs };
  const ports = req.portMappings
    .filter((m) => m.hostPort > 0)
    .map((m) => ({
      hostPort: m.hostPort,
      containerPort: m.containerPort,
      protocol: m.protocol.toLowerCase(),
      ...(m.hostIP ? { hostIP: m.hostIP } : {}),
    }));
  if (ports.length > 0) capabilityArgs.portMappings = ports;
  if (req.dns) {
    capabilityArgs.dns = {
      servers: req.dns.servers,
      searches: req.dns.searches,
      options: req.dns.options,
    };
  }
  return {
    containerId: req.id,
    netns,
    ifName,
    args: Object.entries(req.args),
    capabilityArgs,
  };
}
