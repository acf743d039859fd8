import { randomBytes } from 'node:crypto';
import { mkdirSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { confFiles, type NetworkConfigList, parseConfFile } from '../../cni/index.js';
import { notFound } from '../../core/errdefs/index.js';

/** The default network's name: `--network bridge`, docker's and nerdctl's word. */
export const DEFAULT_NETWORK = 'bridge';
/** The default network's Linux bridge (docker's is docker0, nerdctl's nerdctl0). */
export const DEFAULT_BRIDGE = 'berth0';
/**
 * The default network's subnet. Not docker's 172.17.0.0/16 (nor its later
 * 172.18+ networks), nerdctl's 10.4.0.0/24 (and its 10.4.1+ networks),
 * containerd's and podman's 10.88.0.0/16 (podman's 10.89+), k3s' 10.42/10.43
 * or flannel's and kind's 10.244: a host running any of those keeps working.
 */
export const DEFAULT_SUBNET = '10.66.0.0/24';
/** The file {@link ensureDefaultNetwork} writes. */
export const DEFAULT_CONFLIST_FILE = 'berth-bridge.conflist';

export interface NetworkConflistOptions {
  name?: string;
  bridge?: string;
  subnet?: string;
  /** Masquerade traffic leaving the subnet (default true; tests turn it off). */
  ipMasq?: boolean;
  /** host-local's allocation directory; berth keeps it under its data root, not /var/lib/cni. */
  ipamDataDir: string;
}

/**
 * A bridge network as nerdctl writes its default one: the bridge plugin
 * (gateway on the bridge, masquerade, hairpin so a container reaches itself
 * through a published port) with host-local IPAM, then portmap (`-p`, taking
 * `runtimeConfig.portMappings`) and firewall (the FORWARD rules; ingress
 * allowed from the same bridge only). nerdctl's tuning plugin is left out:
 * configured with nothing, it does nothing. The loopback interface is
 * another network (berth runs the loopback plugin on `lo` itself).
 */
export function defaultNetworkConflist(opts: NetworkConflistOptions): Record<string, unknown> {
  return {
    cniVersion: '1.0.0',
    name: opts.name ?? DEFAULT_NETWORK,
    plugins: [
      {
        type: 'bridge',
        bridge: opts.bridge ?? DEFAULT_BRIDGE,
        isGateway: true,
        ipMasq: opts.ipMasq ?? true,
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          ranges: [[{ subnet: opts.subnet ?? DEFAULT_SUBNET }]],
          routes: [{ dst: '0.0.0.0/0' }],
          dataDir: opts.ipamDataDir,
        },
      },
      { type: 'portmap', capabilities: { portMappings: true } },
      { type: 'firewall', ingressPolicy: 'same-bridge' },
    ],
  };
}

/** host-local's directory under berth's data root. */
export function ipamDataDir(dataRoot: string): string {
  return join(dataRoot, 'cni', 'networks');
}

/**
 * The network named `name` among the conf files of `confDir`. A file that
 * does not parse is skipped (one bad file must not stop every container); if
 * no file names the network, not_found says so and names the bad files.
 */
export function findNetwork(confDir: string, name: string): NetworkConfigList {
  const bad: string[] = [];
  for (const file of confFiles(confDir)) {
    let list: NetworkConfigList;
    try {
      list = parseConfFile(file);
    } catch (e) {
      bad.push((e as Error).message);
      continue;
    }
    if (list.name === name) return list;
  }
  const why = bad.length > 0 ? ` (unreadable: ${bad.join('; ')})` : '';
  throw notFound(
    `network ${JSON.stringify(name)} not found: no CNI config names it in ${confDir}${why}`,
  );
}

/**
 * Writes the default `bridge` network into `confDir` unless a config there
 * already names a network `bridge` (one the user wrote wins). The file is
 * written whole, then renamed into place, so a concurrent reader never sees
 * half of it. Answers whether it wrote one.
 */
export function ensureDefaultNetwork(confDir: string, dataRoot: string): boolean {
  try {
    findNetwork(confDir, DEFAULT_NETWORK);
    return false;
  } catch {
    // Not there: write it.
  }
  mkdirSync(confDir, { recursive: true, mode: 0o755 });
  const conf = defaultNetworkConflist({ ipamDataDir: ipamDataDir(dataRoot) });
  const tmp = join(confDir, `.${DEFAULT_CONFLIST_FILE}.${randomBytes(4).toString('hex')}`);
  try {
    writeFileSync(tmp, `${JSON.stringify(conf, null, 2)}\n`, { mode: 0o644, flag: 'wx' });
    renameSync(tmp, join(confDir, DEFAULT_CONFLIST_FILE));
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      // Never written.
    }
    throw e;
  }
  return true;
}
