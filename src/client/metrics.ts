import { Metrics as V1Metrics } from '../api/containerd/cgroups/v1/metrics.js';
import { Metrics as V2Metrics } from '../api/containerd/cgroups/v2/metrics.js';
import type { AnyValue } from '../core/any/index.js';

/** containerd's cgroup v1 statistics of a task (`io.containerd.cgroups.v1.Metrics`). */
export type CgroupV1Metrics = V1Metrics;
/** containerd's cgroup v2 statistics of a task (`io.containerd.cgroups.v2.Metrics`). */
export type CgroupV2Metrics = V2Metrics;

/** A task's cgroup statistics, decoded: cgroup v1's or v2's message (containerd's cgroups/stats). */
export type CgroupMetrics = { version: 1; stats: V1Metrics } | { version: 2; stats: V2Metrics };

/**
 * Decodes the `data` of a task's {@link Metrics} (`io.containerd.cgroups.v1.Metrics`
 * or `io.containerd.cgroups.v2.Metrics`, as the runc shim sends them);
 * undefined for no data or another type.
 */
export function decodeMetrics(data: AnyValue | undefined): CgroupMetrics | undefined {
  if (data === undefined) return undefined;
  const type = data.typeUrl.slice(data.typeUrl.lastIndexOf('/') + 1);
  if (type === 'io.containerd.cgroups.v1.Metrics') {
    return { version: 1, stats: V1Metrics.decode(data.value) };
  }
  if (type === 'io.containerd.cgroups.v2.Metrics') {
    return { version: 2, stats: V2Metrics.decode(data.value) };
  }
  return undefined;
}
