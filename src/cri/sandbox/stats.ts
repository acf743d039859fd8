/**
 * @module
 * PodSandboxStats and ListPodSandboxStats (the cgroup and /proc sampling is in pod-stats.ts).
 */
import { readFileSync } from 'node:fs';
import type {
  NetworkInterfaceUsage,
  PodSandboxStats,
  PodSandboxStatsFilter,
} from '../../api/k8s/cri/runtime/v1/api.js';
import { failedPrecondition, isNotFound } from '../../core/errdefs/index.js';
import type { OpContext } from '../../core/namespaces/index.js';
import { nowNanos } from '../../core/time/index.js';
import { filterSandboxes } from './filters.js';
import type { SandboxManager } from './manager.js';
import { POD_IF_NAME } from './network.js';
import { noCgroupParent, parseNetDev, samplePodCgroup, toCriUsage } from './pod-stats.js';
import * as statusList from './status-list.js';

/**
 * PodSandboxStats: a READY pod with a cgroup parent (kubelet always gives
 * one; containerd refuses without) gets its cgroup's CPU and memory, eth0
 * traffic, its containers' process count and their stats.
 */
export async function podStats(
  mgr: SandboxManager,
  ctx: OpContext,
  idOrPrefix: string,
): Promise<PodSandboxStats> {
  const sb = mgr.store.sandbox(idOrPrefix);
  if (sb.status.state !== 'ready') {
    throw failedPrecondition(
      `failed to get pod sandbox stats since sandbox container ${JSON.stringify(sb.id)} is not in ready state`,
    );
  }
  const m = sb.metadata;
  const parent = m.config.linux?.cgroupParent ?? '';
  if (parent === '') throw noCgroupParent(sb.id);
  const sample = samplePodCgroup(parent, nowNanos());
  const { cpu, memory } = toCriUsage(sample, mgr.podSamples.get(sb.id));
  mgr.podSamples.set(sb.id, sample);
  let defaultInterface: NetworkInterfaceUsage | undefined;
  if (m.netnsPath !== '' && sb.status.pid > 0) {
    try {
      defaultInterface = parseNetDev(
        readFileSync(`/proc/${sb.status.pid}/net/dev`, 'utf8'),
        POD_IF_NAME,
      );
    } catch (err) {
      mgr.opts.log.debug({ err, sandbox: sb.id }, 'reading the pod network counters');
    }
  }
  const pc = mgr.podContainers;
  const [containers, processes] = await Promise.all([
    pc?.stats?.(ctx, sb.id) ?? Promise.resolve([]),
    pc?.processCount?.(ctx, sb.id) ?? Promise.resolve(0),
  ]);
  return {
    attributes: {
      id: sb.id,
      metadata: m.config.metadata,
      labels: m.config.labels,
      annotations: m.config.annotations,
    },
    linux: {
      cpu,
      memory,
      ...(m.netnsPath !== '' && {
        network: {
          timestamp: sample.timestamp,
          ...(defaultInterface && { defaultInterface }),
          interfaces: [],
        },
      }),
      process: { timestamp: sample.timestamp, processCount: { value: BigInt(processes) } },
      containers,
    },
  };
}

/**
 * ListPodSandboxStats: the stats of every pod the filter selects (id or
 * prefix, labels) that has them; a NOTREADY pod or one without a cgroup
 * parent is left out rather than failing the list.
 */
export async function listPodStats(
  mgr: SandboxManager,
  ctx: OpContext,
  filter: PodSandboxStatsFilter | undefined,
): Promise<PodSandboxStats[]> {
  const picked = filterSandboxes(
    statusList.list(mgr, undefined),
    filter && { id: filter.id, labelSelector: filter.labelSelector },
    (prefix) => {
      try {
        return mgr.store.sandbox(prefix).id;
      } catch {
        return undefined;
      }
    },
  );
  const out: PodSandboxStats[] = [];
  for (const item of picked) {
    const sb = mgr.store.sandbox(item.id);
    if (sb.status.state !== 'ready' || (sb.metadata.config.linux?.cgroupParent ?? '') === '')
      continue;
    try {
      out.push(await podStats(mgr, ctx, sb.id));
    } catch (err) {
      if (!isNotFound(err)) throw err;
      // Its cgroup is gone (the pod stopping meanwhile).
    }
  }
  return out;
}
