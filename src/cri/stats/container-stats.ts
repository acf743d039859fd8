/**
 * @module
 * A container's CRI stats (ContainerStats, ListContainerStats) as containerd
 * 1.7's CRI plugin computes them: CPU and memory from the metrics the task's
 * shim reports (the Any of `io.containerd.cgroups.v1.Metrics` or `.v2.`,
 * decoded: the shim knows the container's cgroup whatever the cgroup driver
 * or version, so berth reads what containerd reads, instead of finding the
 * cgroup files itself), the writable layer from the snapshot usage store.
 *
 * - CPU: `usage_core_nano_seconds` is the cumulative usage; `usage_nano_cores`
 *   the rate since the previous sample of the same container (0 for the
 *   first, or when the counter went back).
 * - Memory: `working_set_bytes` = usage − inactive file pages (v1: the
 *   hierarchy's `total_inactive_file`); `available_bytes` = limit − working
 *   set when limited; `rss_bytes` (v1 `total_rss`, v2 `anon`), page faults.
 */
import { Metrics as MetricsV1 } from '../../api/containerd/cgroups/v1/metrics.js';
import { Metrics as MetricsV2 } from '../../api/containerd/cgroups/v2/metrics.js';
import type {
  ContainerMetadata,
  ContainerStats,
  CpuUsage,
  MemoryUsage,
} from '../../api/k8s/cri/runtime/v1/api.js';
import type { AnyValue } from '../../core/any/index.js';
import { invalidArgument, isNotFound } from '../../core/errdefs/index.js';
import type { OpContext } from '../../core/namespaces/index.js';
import { nowNanos, type SnapshotUsage, type SnapshotUsageStore } from './snapshot-usage.js';

export const CGROUPS_V1_METRICS = 'io.containerd.cgroups.v1.Metrics';
export const CGROUPS_V2_METRICS = 'io.containerd.cgroups.v2.Metrics';

/** Above this a memory limit counts as none (the kernel rounds "max" down from 2^63). */
const UNLIMITED = 1n << 62n;

/** CPU and memory in the CRI's terms, from one metrics sample. */
export interface ResourceSample {
  /** Cumulative CPU time, nanoseconds. */
  cpuNanos?: bigint;
  memory?: {
    usage: bigint;
    workingSet: bigint;
    /** 0 when unlimited. */
    available: bigint;
    rss: bigint;
    pageFaults: bigint;
    majorPageFaults: bigint;
  };
}

function typeName(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
}

function sub(a: bigint, b: bigint): bigint {
  return a > b ? a - b : 0n;
}

/** Decodes a shim's metrics Any (cgroups v1 or v2); `invalid_argument` for another type. */
export function decodeMetrics(data: AnyValue): ResourceSample {
  const type = typeName(data.typeUrl);
  if (type === CGROUPS_V1_METRICS) {
    const m = MetricsV1.decode(data.value);
    const out: ResourceSample = {};
    if (m.cpu?.usage !== undefined) out.cpuNanos = m.cpu.usage.total;
    const mem = m.memory;
    if (mem?.usage !== undefined) {
      const workingSet = sub(mem.usage.usage, mem.totalInactiveFile);
      const limit = mem.usage.limit;
      out.memory = {
        usage: mem.usage.usage,
        workingSet,
        available: limit > UNLIMITED ? 0n : sub(limit, workingSet),
        rss: mem.totalRss,
        pageFaults: mem.totalPgFault,
        majorPageFaults: mem.totalPgMajFault,
      };
    }
    return out;
  }
  if (type === CGROUPS_V2_METRICS) {
    const m = MetricsV2.decode(data.value);
    const out: ResourceSample = {};
    if (m.cpu !== undefined) out.cpuNanos = m.cpu.usageUsec * 1000n;
    const mem = m.memory;
    if (mem !== undefined) {
      const workingSet = sub(mem.usage, mem.inactiveFile);
      out.memory = {
        usage: mem.usage,
        workingSet,
        available: mem.usageLimit > UNLIMITED ? 0n : sub(mem.usageLimit, workingSet),
        rss: mem.anon,
        pageFaults: mem.pgfault,
        majorPageFaults: mem.pgmajfault,
      };
    }
    return out;
  }
  throw invalidArgument(`unexpected metrics type ${JSON.stringify(data.typeUrl)}`);
}

/**
 * The CPU rate between two samples in nanocores (1e9 = one core busy):
 * Δusage / Δtime × 1e9. 0 when time did not advance or the counter went back.
 */
export function nanoCores(
  prev: { usage: bigint; timestamp: bigint },
  cur: { usage: bigint; timestamp: bigint },
): bigint {
  const dt = cur.timestamp - prev.timestamp;
  if (dt <= 0n || cur.usage < prev.usage) return 0n;
  return ((cur.usage - prev.usage) * 1_000_000_000n) / dt;
}

/** What a container is in the stats' attributes. */
export interface StatsContainer {
  id: string;
  metadata?: ContainerMetadata;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

/** Where the numbers come from: the task's shim, if it runs. */
export interface StatsTask {
  stats(ctx: OpContext): Promise<AnyValue | undefined>;
}

/**
 * Builds CRI container stats, keeping each container's previous CPU sample
 * for `usage_nano_cores`. One per CRI plugin; {@link forget} a removed
 * container.
 */
export class ContainerStatsCollector {
  private readonly lastCpu = new Map<string, { usage: bigint; timestamp: bigint }>();

  constructor(
    private readonly opts: {
      /** The snapshots' usage (a container's snapshot key is its id). */
      usage: Pick<SnapshotUsageStore, 'get'>;
      /** The snapshotter's root, as ImageFsInfo names it. */
      mountpoint: string;
    },
  ) {}

  /**
   * The stats of `container`; with a `task`, its CPU and memory too (a task
   * that gives no metrics counts as none). `snapshotUsage` overrides the usage
   * store's last measure of the writable layer.
   */
  async collect(
    ctx: OpContext,
    container: StatsContainer,
    task?: StatsTask,
    snapshotUsage?: SnapshotUsage,
  ): Promise<ContainerStats> {
    let metrics: AnyValue | undefined;
    const timestamp = nowNanos();
    if (task !== undefined) {
      try {
        metrics = await task.stats(ctx);
      } catch (err) {
        // An exited container's cgroup is gone, a crashed shim answers
        // nothing: no CPU or memory then, as containerd's task metrics skip
        // the tasks that fail.
        if (!isNotFound(err)) {
          ctx.log.debug({ err, container: container.id }, 'no metrics from the task');
        }
      }
    }
    return this.fromMetrics(container, metrics, timestamp, snapshotUsage);
  }

  /** The stats from metrics already fetched (taken at `timestamp`, ns). */
  fromMetrics(
    container: StatsContainer,
    metrics: AnyValue | undefined,
    timestamp: bigint,
    snapshotUsage?: SnapshotUsage,
  ): ContainerStats {
    const layer = snapshotUsage ?? this.opts.usage.get(container.id);
    const stats: ContainerStats = {
      attributes: {
        id: container.id,
        ...(container.metadata !== undefined && { metadata: container.metadata }),
        labels: container.labels,
        annotations: container.annotations,
      },
      writableLayer: {
        timestamp: layer?.timestamp ?? 0n,
        fsId: { mountpoint: this.opts.mountpoint },
        usedBytes: { value: BigInt(layer?.size ?? 0) },
        inodesUsed: { value: BigInt(layer?.inodes ?? 0) },
      },
    };
    if (metrics === undefined) return stats;
    const sample = decodeMetrics(metrics);
    if (sample.cpuNanos !== undefined)
      stats.cpu = this.cpu(container.id, sample.cpuNanos, timestamp);
    if (sample.memory !== undefined) stats.memory = memoryUsage(sample.memory, timestamp);
    return stats;
  }

  private cpu(id: string, usage: bigint, timestamp: bigint): CpuUsage {
    const prev = this.lastCpu.get(id);
    const cur = { usage, timestamp };
    this.lastCpu.set(id, cur);
    return {
      timestamp,
      usageCoreNanoSeconds: { value: usage },
      usageNanoCores: { value: prev === undefined ? 0n : nanoCores(prev, cur) },
    };
  }

  /** Drops a removed container's previous sample. */
  forget(id: string): void {
    this.lastCpu.delete(id);
  }
}

function memoryUsage(m: NonNullable<ResourceSample['memory']>, timestamp: bigint): MemoryUsage {
  return {
    timestamp,
    workingSetBytes: { value: m.workingSet },
    availableBytes: { value: m.available },
    usageBytes: { value: m.usage },
    rssBytes: { value: m.rss },
    pageFaults: { value: m.pageFaults },
    majorPageFaults: { value: m.majorPageFaults },
  };
}
