/**
 * PodSandboxStats as containerd's CRI answers it: CPU and memory of the
 * pod's cgroup (its `cgroup_parent`, which kubelet creates and every
 * container of the pod is under), the pod's eth0 traffic, the processes of
 * its running containers, and its containers' own stats.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type {
  ContainerStats,
  CpuUsage,
  MemoryUsage,
  NetworkInterfaceUsage,
} from '../../api/k8s/cri/runtime/v1/api.js';
import { failedPrecondition, notFound } from '../../core/errdefs/index.js';
import { cgroupMode, cleanCgroupPath, parseMountInfo } from '../../sys/cgroup.js';

/** The numbers read from one pod cgroup, at one moment. */
export interface PodCgroupSample {
  timestamp: bigint;
  /** CPU time of every process in it, nanoseconds. */
  cpuUsageNs: bigint;
  memory: {
    usage: bigint;
    /** Usage minus inactive file pages (kubelet's working set). */
    workingSet: bigint;
    rss: bigint;
    pageFaults: bigint;
    majorPageFaults: bigint;
    /** Limit minus working set, when there is a limit. */
    available?: bigint;
  };
}

/** Reads `<cgroup fs>/<path>/<file>`; `not_found` names the cgroup. */
type CgroupReader = (controller: string, file: string) => string;

/** containerd reports "no limit" for limits at or above this (cgroup v1's page-rounded max). */
const NO_LIMIT = 1n << 62n;

function statMap(text: string): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const line of text.split('\n')) {
    const [k, v] = line.split(' ');
    if (k && v && /^\d+$/.test(v)) out.set(k, BigInt(v));
  }
  return out;
}

/**
 * A pod cgroup's sample: cgroup v2 (`cpu.stat`, `memory.current`,
 * `memory.stat`, `memory.max`) or v1 (`cpuacct.usage`, the memory
 * controller's usage, limit and `total_*` stats), as containerd's cgroups
 * library reads them.
 */
export function samplePodCgroup(
  cgroupParent: string,
  now: bigint,
  read: CgroupReader = hostCgroupReader(cgroupParent),
): PodCgroupSample {
  const v2 = read('', 'cgroup.controllers') !== '\0v1';
  if (v2) {
    const cpu = statMap(read('', 'cpu.stat'));
    const mem = statMap(read('', 'memory.stat'));
    const usage = BigInt(read('', 'memory.current').trim());
    const max = read('', 'memory.max').trim();
    const inactive = mem.get('inactive_file') ?? 0n;
    const workingSet = usage > inactive ? usage - inactive : 0n;
    const limit = max === 'max' ? undefined : BigInt(max);
    return {
      timestamp: now,
      cpuUsageNs: (cpu.get('usage_usec') ?? 0n) * 1000n,
      memory: {
        usage,
        workingSet,
        rss: mem.get('anon') ?? 0n,
        pageFaults: mem.get('pgfault') ?? 0n,
        majorPageFaults: mem.get('pgmajfault') ?? 0n,
        ...(limit !== undefined &&
          limit < NO_LIMIT && { available: limit > workingSet ? limit - workingSet : 0n }),
      },
    };
  }
  const mem = statMap(read('memory', 'memory.stat'));
  const usage = BigInt(read('memory', 'memory.usage_in_bytes').trim());
  const limit = BigInt(read('memory', 'memory.limit_in_bytes').trim());
  const inactive = mem.get('total_inactive_file') ?? 0n;
  const workingSet = usage > inactive ? usage - inactive : 0n;
  return {
    timestamp: now,
    cpuUsageNs: BigInt(read('cpuacct', 'cpuacct.usage').trim()),
    memory: {
      usage,
      workingSet,
      rss: mem.get('total_rss') ?? 0n,
      pageFaults: mem.get('total_pgfault') ?? 0n,
      majorPageFaults: mem.get('total_pgmajfault') ?? 0n,
      ...(limit < NO_LIMIT && { available: limit > workingSet ? limit - workingSet : 0n }),
    },
  };
}

/**
 * Reads the pod cgroup's files from the host's cgroup filesystem. On v1 the
 * unified probe (`cgroup.controllers`) answers `\0v1`; each controller is
 * read from its own hierarchy (`/sys/fs/cgroup/<controller>`).
 */
function hostCgroupReader(cgroupParent: string): CgroupReader {
  const mode = cgroupMode(parseMountInfo(readFileSync('/proc/self/mountinfo', 'utf8')));
  const rel = cleanCgroupPath(cgroupParent);
  return (controller, file) => {
    if (mode.kind !== 'unified' && file === 'cgroup.controllers') return '\0v1';
    const path =
      mode.kind === 'unified'
        ? join(mode.mountPoint, rel, file)
        : join('/sys/fs/cgroup', controller, rel, file);
    try {
      return readFileSync(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw notFound(`failed to load sandbox cgroup ${cgroupParent}: ${path} does not exist`);
      }
      throw err;
    }
  };
}

/** CPU and memory usage from two samples (the previous one for the rate). */
export function toCriUsage(
  cur: PodCgroupSample,
  prev: PodCgroupSample | undefined,
): { cpu: CpuUsage; memory: MemoryUsage } {
  let nanoCores = 0n;
  if (prev !== undefined) {
    const dt = cur.timestamp - prev.timestamp;
    if (dt > 0n && cur.cpuUsageNs >= prev.cpuUsageNs) {
      nanoCores = ((cur.cpuUsageNs - prev.cpuUsageNs) * 1_000_000_000n) / dt;
    }
  }
  const v = (value: bigint) => ({ value });
  const m = cur.memory;
  return {
    cpu: {
      timestamp: cur.timestamp,
      usageCoreNanoSeconds: v(cur.cpuUsageNs),
      usageNanoCores: v(nanoCores),
    },
    memory: {
      timestamp: cur.timestamp,
      workingSetBytes: v(m.workingSet),
      ...(m.available !== undefined && { availableBytes: v(m.available) }),
      usageBytes: v(m.usage),
      rssBytes: v(m.rss),
      pageFaults: v(m.pageFaults),
      majorPageFaults: v(m.majorPageFaults),
    },
  };
}

/**
 * The pod's eth0 counters from `/proc/<pid>/net/dev` of a process in its
 * network namespace (the pause): the same numbers netlink gives containerd.
 */
export function parseNetDev(text: string, ifName: string): NetworkInterfaceUsage | undefined {
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0 || line.slice(0, colon).trim() !== ifName) continue;
    const f = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .map((n) => BigInt(n));
    // rx: bytes packets errs drop fifo frame compressed multicast; tx: bytes packets errs ...
    return {
      name: ifName,
      rxBytes: { value: f[0] ?? 0n },
      rxErrors: { value: f[2] ?? 0n },
      txBytes: { value: f[8] ?? 0n },
      txErrors: { value: f[10] ?? 0n },
    };
  }
  return undefined;
}

/** What the stats of one pod need of its containers (the container part). */
export interface PodContainerStats {
  /** The stats of the pod's containers (ListContainerStats filtered by pod). */
  stats(sandboxId: string): Promise<ContainerStats[]>;
  /** How many processes its running containers have. */
  processCount(sandboxId: string): Promise<number>;
}

/** containerd's refusal for a pod without a cgroup parent. */
export function noCgroupParent(id: string): Error {
  return failedPrecondition(
    `failed to get cgroup metrics for sandbox ${id} because cgroupPath is empty`,
  );
}
