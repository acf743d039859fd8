import { type PodSandboxConfig, Protocol } from '../../api/k8s/cri/runtime/v1/api.js';

/**
 * The pod network as the sandbox part uses it: the shape of cri-cni's
 * CniNetworks (src/cni), which the plugin passes in.
 */
export interface PodNetworks {
  status(): { ready: boolean; message: string };
  /** An aborted `signal` (the CRI call canceled) stops the plugins and undoes what they did. */
  setup(req: PodNetworkRequest, opts?: { signal?: AbortSignal }): Promise<PodNetworkResult>;
  /** Idempotent; works from the cached result after a restart. */
  remove(req: PodNetworkRequest): Promise<void>;
}

export interface PodNetworkRequest {
  id: string;
  netnsPath: string;
  ifName?: string;
  args: Record<string, string>;
  portMappings: {
    hostPort: number;
    containerPort: number;
    protocol: 'tcp' | 'udp' | 'sctp';
    hostIP: string;
  }[];
  dns?: { servers: string[]; searches: string[]; options: string[] };
}

export interface PodNetworkResult {
  ips: { address: string; gateway?: string; interface?: string }[];
  raw: unknown;
}

/** containerd's pod interface. */
export const POD_IF_NAME = 'eth0';

const PROTOCOLS: Record<number, 'tcp' | 'udp' | 'sctp'> = {
  [Protocol.TCP]: 'tcp',
  [Protocol.UDP]: 'udp',
  [Protocol.SCTP]: 'sctp',
};

/**
 * The CNI request for a pod, as containerd builds it: the K8S_* args with
 * IgnoreUnknown, the port mappings that have a host port, and the DNS config.
 */
export function podNetworkRequest(
  id: string,
  netnsPath: string,
  config: PodSandboxConfig,
): PodNetworkRequest {
  const m = config.metadata;
  const req: PodNetworkRequest = {
    id,
    netnsPath,
    ifName: POD_IF_NAME,
    args: {
      IgnoreUnknown: '1',
      K8S_POD_NAMESPACE: m?.namespace ?? '',
      K8S_POD_NAME: m?.name ?? '',
      K8S_POD_INFRA_CONTAINER_ID: id,
      K8S_POD_UID: m?.uid ?? '',
    },
    portMappings: config.portMappings
      .filter((p) => p.hostPort > 0)
      .map((p) => ({
        hostPort: p.hostPort,
        containerPort: p.containerPort,
        protocol: PROTOCOLS[p.protocol] ?? 'tcp',
        hostIP: p.hostIp,
      })),
  };
  if (config.dnsConfig !== undefined) {
    req.dns = {
      servers: config.dnsConfig.servers,
      searches: config.dnsConfig.searches,
      options: config.dnsConfig.options,
    };
  }
  return req;
}

/**
 * The pod's IP and its additional IPs (containerd's selectPodIPs): the
 * addresses on eth0 (all of them if the result names no interfaces),
 * IPv4 first, without prefix lengths.
 */
export function selectPodIps(result: PodNetworkResult): { ip: string; additionalIps: string[] } {
  const named = result.ips.filter((ip) => ip.interface !== undefined && ip.interface !== '');
  const onPodIf =
    named.length > 0 ? named.filter((ip) => ip.interface === POD_IF_NAME) : result.ips;
  const addrs = onPodIf.map((ip) => ip.address.replace(/\/\d+$/, ''));
  const v4 = addrs.filter((a) => !a.includes(':'));
  const v6 = addrs.filter((a) => a.includes(':'));
  const ordered = [...v4, ...v6];
  return { ip: ordered[0] ?? '', additionalIps: ordered.slice(1) };
}
