/**
 * @module
 * cgroup paths, resources, oom_score_adj and annotations as containerd 1.6's
 * CRI plugin sets them.
 */
import { posix } from 'node:path';
import type { LinuxContainerResources } from '../../api/k8s/cri/runtime/v1/api.js';
import { failedPrecondition, invalidArgument } from '../../core/errdefs/index.js';
import { cpuOf, memoryOf, resourcesOf } from './defaults.js';
import type { OciSpec, SpecOptions } from './types.js';

/**
 * The cgroups path of `id` under `parent` (containerd's getCgroupsPath):
 * `slice:cri-containerd:id` for a systemd slice parent, else `<parent>/<id>`.
 */
export function cgroupsPathOf(parent: string, id: string): string {
  const base = posix.basename(parent);
  if (base.endsWith('.slice')) return `${base}:cri-containerd:${id}`;
  return posix.join(parent, id);
}

/**
 * The oom_score_adj to ask for: `preferred`, raised to the daemon's own
 * when restricted (containerd's restrictOOMScoreAdj: a process without
 * CAP_SYS_RESOURCE may not go below its parent's).
 */
export function restrictedOomScoreAdj(preferred: number, options: SpecOptions): number {
  if (!options.restrictOomScoreAdj) return preferred;
  const own = options.daemonOomScoreAdj;
  if (own === undefined) {
    throw failedPrecondition(
      'restrict_oom_score_adj is set but the daemon oom_score_adj is unknown',
    );
  }
  return Math.max(preferred, own);
}

/** Go's int64 → JSON number (precision beyond 2^53 is not a concern for these fields). */
function num(v: bigint): number {
  return Number(v);
}

/**
 * The container's resources (containerd's customopts.WithResources): CPU
 * period, quota, shares, cpuset; memory limit (and swap equal to it when
 * the swap controller exists and no swap limit is given); hugepages when the
 * hugetlb controller is there and not disabled; cgroup v2 unified keys.
 */
export function applyResources(
  spec: OciSpec,
  r: LinuxContainerResources | undefined,
  options: SpecOptions,
): void {
  if (!r) return;
  const res = resourcesOf(spec);
  const cpu = cpuOf(spec);
  const memory = memoryOf(spec);
  if (r.cpuPeriod !== 0n) cpu.period = Number(BigInt.asUintN(64, r.cpuPeriod));
  if (r.cpuQuota !== 0n) cpu.quota = num(r.cpuQuota);
  if (r.cpuShares !== 0n) cpu.shares = Number(BigInt.asUintN(64, r.cpuShares));
  if (r.cpusetCpus !== '') cpu.cpus = r.cpusetCpus;
  if (r.cpusetMems !== '') cpu.mems = r.cpusetMems;
  if (r.memoryLimitInBytes !== 0n) {
    memory.limit = num(r.memoryLimitInBytes);
    if (r.memorySwapLimitInBytes === 0n && options.swapControllerAvailable) {
      memory.swap = num(r.memoryLimitInBytes);
    }
  }
  if (r.memorySwapLimitInBytes !== 0n) memory.swap = num(r.memorySwapLimitInBytes);
  if (!(options.disableHugetlbController ?? true)) {
    if (options.hugetlbAvailable) {
      for (const h of r.hugepageLimits) {
        res.hugepageLimits = [
          ...(res.hugepageLimits ?? []),
          { pageSize: h.pageSize, limit: num(h.limit) },
        ];
      }
    } else if (!(options.tolerateMissingHugetlbController ?? true)) {
      throw invalidArgument(
        'huge pages limits are specified but hugetlb cgroup controller is missing. Please set tolerate_missing_hugetlb_controller to `true` to ignore this error',
      );
    }
  }
  const unified = Object.entries(r.unified);
  if (unified.length > 0) {
    res.unified ??= {};
    for (const [k, v] of unified) res.unified[k] = v;
  }
}

/**
 * Go's path.Match: `*` any run of non-`/`, `?` one non-`/`, `[...]`
 * classes (`^` negates, ranges), `\` escapes. A malformed pattern matches
 * nothing (containerd ignores the error).
 */
export function pathMatch(pattern: string, name: string): boolean {
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '\\') {
      const next = pattern[++i];
      if (next === undefined) return false;
      re += escapeRe(next);
    } else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) return false;
      let body = pattern.slice(i + 1, end);
      const negate = body.startsWith('^');
      if (negate) body = body.slice(1);
      re += `[${negate ? '^/' : ''}${body.replace(/[\]\\^]/g, '\\$&')}]`;
      i = end;
    } else re += escapeRe(c);
  }
  try {
    return new RegExp(`${re}$`, 's').test(name);
  } catch {
    return false;
  }
}

function escapeRe(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** The annotations matched by a runtime's pass-through patterns (containerd's getPassthroughAnnotations). */
export function passthroughAnnotations(
  annotations: Record<string, string>,
  patterns: readonly string[] | undefined,
): Record<string, string> {
  const out: Record<string, string> = {};
  if (!patterns || patterns.length === 0) return out;
  for (const [k, v] of Object.entries(annotations)) {
    if (patterns.some((p) => pathMatch(p, k))) out[k] = v;
  }
  return out;
}
