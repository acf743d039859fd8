/**
 * @module
 * The resources a container's OCI spec gives it, as the CRI reports them in
 * ContainerStatus (containerd's copyResourcesToStatus).
 */
import type {
  ContainerResources,
  LinuxContainerResources,
} from '../../api/k8s/cri/runtime/v1/api.js';
import type { OciSpec } from '../opts/index.js';

const big = (v: unknown): bigint =>
  typeof v === 'number' && Number.isFinite(v) ? BigInt(Math.trunc(v)) : 0n;

export function resourcesOfSpec(spec: Pick<OciSpec, 'process' | 'linux'>): ContainerResources {
  if (!spec.linux) return {};
  const linux: LinuxContainerResources = {
    cpuPeriod: 0n,
    cpuQuota: 0n,
    cpuShares: 0n,
    memoryLimitInBytes: 0n,
    oomScoreAdj: big(spec.process?.oomScoreAdj),
    cpusetCpus: '',
    cpusetMems: '',
    hugepageLimits: [],
    unified: {},
    memorySwapLimitInBytes: 0n,
  };
  const r = spec.linux.resources;
  if (r) {
    if (r.cpu) {
      linux.cpuPeriod = big(r.cpu.period);
      linux.cpuQuota = big(r.cpu.quota);
      linux.cpuShares = big(r.cpu.shares);
      linux.cpusetCpus = typeof r.cpu.cpus === 'string' ? r.cpu.cpus : '';
      linux.cpusetMems = typeof r.cpu.mems === 'string' ? r.cpu.mems : '';
    }
    if (r.memory) {
      linux.memoryLimitInBytes = big(r.memory.limit);
      linux.memorySwapLimitInBytes = big(r.memory.swap);
    }
    if (Array.isArray(r.hugepageLimits)) {
      linux.hugepageLimits = r.hugepageLimits.map((l: { pageSize?: string; limit?: number }) => ({
        pageSize: l.pageSize ?? '',
        limit: big(l.limit),
      }));
    }
    if (r.unified && typeof r.unified === 'object') linux.unified = { ...r.unified };
  }
  return { linux };
}
