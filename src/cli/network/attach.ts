import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  type CacheEntry,
  CniConfig,
  type CniResult,
  findPlugin,
  LOOPBACK_NETWORK,
  type RuntimeConf,
} from '../../cni/index.js';
import { isBerthError, newError } from '../../core/errdefs/index.js';
import { isPinnedNetns, pinNetnsAt, removeNetns } from '../../sys/netns.js';
import type { PortMapping } from '../labels.js';
import { findNetwork } from './conflist.js';
import { cniBinDirs, type NetworkFlags } from './flags.js';
import { withNetworkLock } from './lock.js';

/** The container's interface on its network, as docker's and nerdctl's. */
export const CONTAINER_IF = 'eth0';
const LOOPBACK_IF = 'lo';

/** The CNI container id: the containerd namespace and the container id, so two namespaces never share one (nerdctl's). */
export function cniContainerId(namespace: string, id: string): string {
  return `${namespace}-${id}`;
}

/** The directory of pinned network namespaces under the data root. */
export function netnsDir(flags: NetworkFlags): string {
  return join(flags.dataRoot, 'netns');
}

/** Where a container's network namespace is pinned while it has a network. */
export function pinnedNetnsPath(flags: NetworkFlags, namespace: string, id: string): string {
  return join(netnsDir(flags), cniContainerId(namespace, id));
}

function cniFor(flags: NetworkFlags): CniConfig {
  return new CniConfig({ binDirs: cniBinDirs(flags), cacheDir: join(flags.dataRoot, 'cni') });
}

export interface AttachRequest {
  namespace: string;
  id: string;
  /** `none` (loopback only) or a CNI network's name (`bridge`). */
  network: string;
  /** The container's network namespace as the hook finds it: `/proc/<pid>/ns/net`. */
  netnsPath: string;
  ports: readonly PortMapping[];
}

export interface Attached {
  /** The network's result on eth0; undefined for `none`. */
  result?: CniResult;
  /** The container's addresses on eth0, without prefix length, IPv4 first. */
  ips: string[];
}

function portMappings(ports: readonly PortMapping[]): Record<string, unknown>[] {
  return ports
    .filter((p) => p.hostPort > 0)
    .map((p) => ({
      hostPort: p.hostPort,
      containerPort: p.containerPort,
      protocol: p.protocol,
      ...(p.hostIP ? { hostIP: p.hostIP } : {}),
    }));
}

/**
 * Sets up a container's network: whatever a previous run left (a crash
 * before postStop) is released first; the netns is pinned under the data
 * root (so the DEL finds it even after the container's processes are gone,
 * and the bridge plugin can undo its masquerade rule, which it cannot
 * without the netns); then loopback on `lo` and, unless `none`, the network
 * on eth0 with the port mappings. On failure everything done is undone
 * (DEL, unpin) and the error says what failed and, if it did, what the
 * undo could not do.
 */
export function attachNetwork(flags: NetworkFlags, req: AttachRequest): Promise<Attached> {
  return withNetworkLock(flags, () => attach(flags, req));
}

async function attach(flags: NetworkFlags, req: AttachRequest): Promise<Attached> {
  const network = req.network === 'none' ? undefined : findNetwork(flags.cniConfDir, req.network);
  await release(flags, req.namespace, req.id);
  const cni = cniFor(flags);
  const pinned = pinnedNetnsPath(flags, req.namespace, req.id);
  pinNetnsAt(req.netnsPath, pinned, netnsDir(flags));
  const containerId = cniContainerId(req.namespace, req.id);
  const rt = (ifName: string, capabilityArgs: Record<string, unknown>): RuntimeConf => ({
    containerId,
    netns: pinned,
    ifName,
    args: [],
    capabilityArgs,
  });
  try {
    await cni.addNetworkList(LOOPBACK_NETWORK, rt(LOOPBACK_IF, {}));
    if (network === undefined) return { ips: [] };
    const ports = portMappings(req.ports);
    const result = await cni.addNetworkList(
      network,
      rt(CONTAINER_IF, ports.length > 0 ? { portMappings: ports } : {}),
    );
    return { result, ips: addressesOf(result, CONTAINER_IF).map((a) => a.address) };
  } catch (e) {
    try {
      await release(flags, req.namespace, req.id);
    } catch (u) {
      if (isBerthError(e)) {
        throw newError(e.kind, `${e.message} (and undoing it failed: ${(u as Error).message})`, {
          cause: e,
        });
      }
    }
    throw e;
  }
}

function hasPlugin(type: string, binDirs: readonly string[]): boolean {
  try {
    findPlugin(type, binDirs);
    return true;
  } catch {
    return false;
  }
}

/** Whether a failed DEL means the thing is gone already (go-cni's rule). */
function alreadyGone(netns: string, err: Error): boolean {
  const msg = err.message;
  return msg.includes('not found') || (netns === '' && msg.includes('no such file or directory'));
}

/**
 * Releases a container's network from the CNI result cache: DEL on eth0
 * (the network's plugins in reverse: firewall and portmap rules, the veth,
 * the IP allocation), then on lo, with the pinned netns while it is there
 * ("" if not: plugins then release what lives outside it), then unpins the
 * netns. What `berth rm` calls in case the postStop hook never ran, and
 * what that hook runs. Idempotent: nothing cached and nothing pinned is a
 * no-op. If a DEL fails, its cache entry and the pinned netns stay for
 * a later call, and the error names the network.
 */
export async function releaseNetwork(
  flags: NetworkFlags,
  namespace: string,
  id: string,
): Promise<void> {
  // Nothing cached and nothing pinned (host, none after postStop, never started): no lock, no file made.
  let bad = false;
  const cached = await cniFor(flags).cache.list(cniContainerId(namespace, id), () => {
    bad = true;
  });
  if (cached.length === 0 && !bad && !existsSync(pinnedNetnsPath(flags, namespace, id))) return;
  await withNetworkLock(flags, () => release(flags, namespace, id));
}

async function release(flags: NetworkFlags, namespace: string, id: string): Promise<void> {
  const cni = cniFor(flags);
  const containerId = cniContainerId(namespace, id);
  const pinned = pinnedNetnsPath(flags, namespace, id);
  const netns = isPinnedNetns(pinned) ? pinned : '';
  const errors: Error[] = [];
  const entries = await cni.cache.list(containerId, (path, err) =>
    errors.push(new Error(`unreadable CNI cache entry ${path}: ${err.message}`)),
  );
  entries.sort((a, b) => Number(a.rt.ifName === LOOPBACK_IF) - Number(b.rt.ifName === LOOPBACK_IF));
  for (const entry of entries) {
    const rt = { ...entry.rt, netns };
    // A plugin whose binary is gone cannot be asked to undo anything (and one
    // missing at ADD never ran): the others still must release theirs.
    const plugins = entry.network.plugins.filter((p) => hasPlugin(p.type, cni.binDirs));
    try {
      await cni.delNetworkList({ ...entry.network, plugins }, rt, entry.result);
    } catch (e) {
      if (alreadyGone(netns, e as Error)) {
        await cni.cache.remove(entry.network.name, containerId, entry.rt.ifName);
      } else errors.push(e as Error);
    }
  }
  const first = errors[0];
  if (first !== undefined) {
    const msg = `releasing the network of container ${JSON.stringify(id)}: ${errors.map((e) => e.message).join('; ')}`;
    throw newError(isBerthError(first) ? first.kind : 'unknown', msg, { cause: first });
  }
  await removeNetns(pinned, netnsDir(flags));
}

/** An address of the container, from its cached CNI result. */
export interface ContainerAddress {
  /** Without prefix length: `10.66.0.5`. */
  address: string;
  prefixLength: number;
  gateway?: string;
}

function addressesOf(result: CniResult, ifName: string): ContainerAddress[] {
  const out: ContainerAddress[] = [];
  for (const ip of result.ips ?? []) {
    const intf = ip.interface === undefined ? undefined : result.interfaces?.[ip.interface];
    if (intf !== undefined && intf.name !== ifName) continue;
    const [address = '', prefix = ''] = ip.address.split('/');
    out.push({
      address,
      prefixLength: Number(prefix) || (address.includes(':') ? 128 : 32),
      ...(ip.gateway ? { gateway: ip.gateway } : {}),
    });
  }
  const v4 = out.filter((a) => !a.address.includes(':'));
  return [...v4, ...out.filter((a) => a.address.includes(':'))];
}

/** What `berth inspect` and `ps` show of a container's network. */
export interface ContainerNetworkInfo {
  network: string;
  ifName: string;
  addresses: ContainerAddress[];
  /** The first address ("" if none). */
  ipAddress: string;
  gateway: string;
  macAddress: string;
}

function infoOf(entry: CacheEntry & { result: CniResult }): ContainerNetworkInfo {
  const addresses = addressesOf(entry.result, entry.rt.ifName);
  const intf = entry.result.interfaces?.find((i) => i.name === entry.rt.ifName && i.sandbox);
  return {
    network: entry.network.name,
    ifName: entry.rt.ifName,
    addresses,
    ipAddress: addresses[0]?.address ?? '',
    gateway: addresses.find((a) => a.gateway)?.gateway ?? '',
    macAddress: intf?.mac ?? '',
  };
}

/**
 * The container's network (addresses, gateway, MAC) from the cached CNI
 * result of its eth0; undefined when it has none (not running, `host`,
 * `none`). Unreadable cache entries are skipped.
 */
export async function containerNetworkInfo(
  flags: NetworkFlags,
  namespace: string,
  id: string,
): Promise<ContainerNetworkInfo | undefined> {
  const entries = await cniFor(flags).cache.list(cniContainerId(namespace, id), () => {});
  const main = entries.find(
    (e): e is CacheEntry & { result: CniResult } =>
      e.rt.ifName === CONTAINER_IF && e.result !== undefined,
  );
  return main ? infoOf(main) : undefined;
}
