/**
 * @module cri/stats
 * Container stats for the CRI (CPU, memory, writable layer) and the
 * periodic snapshot usage behind the writable layer and ImageFsInfo.
 */
export {
  CGROUPS_V1_METRICS,
  CGROUPS_V2_METRICS,
  ContainerStatsCollector,
  decodeMetrics,
  nanoCores,
  type ResourceSample,
  type StatsContainer,
  type StatsTask,
} from './container-stats.js';
export { nowNanos, type SnapshotUsage, SnapshotUsageStore } from './snapshot-usage.js';
