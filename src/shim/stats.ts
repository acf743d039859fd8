import { readFile } from 'node:fs/promises';
import { Metrics as MetricsV1 } from '../api/containerd/cgroups/v1/metrics.js';
import { Metrics as MetricsV2 } from '../api/containerd/cgroups/v2/metrics.js';
import { notFound } from '../core/errdefs/index.js';

/**
 * A container's cgroup metrics as the Go shim's Stats returns them:
 * `io.containerd.cgroups.v1.Metrics` on cgroup v1 hosts, `.v2.Metrics` on
 * unified ones (what `ctr task metrics`, berthd's Tasks.Metrics and the CRI
 * decode). The cgroup is the init's, found at Create from /proc/<pid>/cgroup
 * (kept after the init exits, as the Go shim keeps its loaded cgroup).
 */

export const CGROUPS_V1_METRICS = 'io.containerd.cgroups.v1.Metrics';
export const CGROUPS_V2_METRICS = 'io.containerd.cgroups.v2.Metrics';

const ROOT = '/sys/fs/cgroup';

export type ProcessCgroup =
  | { version: 1; paths: Record<string, string> }
  | { version: 2; path: string };

/** Parses /proc/<pid>/cgroup text. */
export function parseProcCgroup(text: string): ProcessCgroup | undefined {
  const paths: Record<string, string> = {};
  let unified: string | undefined;
  for (const line of text.split('\n')) {
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    if (first < 0 || second < 0) continue;
    const controllers = line.slice(first + 1, second);
    const path = line.slice(second + 1);
    if (controllers === '') unified = path;
    else for (const c of controllers.split(',')) paths[c] = path;
  }
  if (Object.keys(paths).length > 0) return { version: 1, paths };
  if (unified !== undefined) return { version: 2, path: unified };
  return undefined;
}

export async function loadProcessCgroup(pid: number): Promise<ProcessCgroup | undefined> {
  try {
    return parseProcCgroup(await readFile(`/proc/${pid}/cgroup`, 'utf8'));
  } catch {
    return undefined;
  }
}

async function read(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

function num(text: string | undefined): bigint {
  if (text === undefined) return 0n;
  const t = text.trim();
  if (t === '' || t === 'max') return 0n;
  try {
    return BigInt(t.split(/\s+/)[0] ?? '0');
  } catch {
    return 0n;
  }
}

/** `key value` lines (memory.stat, cpu.stat) into a map. */
export function parseKeyValues(text: string | undefined): Map<string, bigint> {
  const m = new Map<string, bigint>();
  for (const line of (text ?? '').split('\n')) {
    const [k, v] = line.split(' ');
    if (k && v !== undefined) m.set(k, num(v));
  }
  return m;
}

/** The metrics of a cgroup as a type URL and the encoded message. */
export async function cgroupMetrics(
  cg: ProcessCgroup | undefined,
): Promise<{ typeUrl: string; value: Uint8Array }> {
  if (!cg) throw notFound('cgroup does not exist');
  if (cg.version === 2) {
    return { typeUrl: CGROUPS_V2_METRICS, value: MetricsV2.encode(await v2(cg.path)).finish() };
  }
  return { typeUrl: CGROUPS_V1_METRICS, value: MetricsV1.encode(await v1(cg.paths)).finish() };
}

const USER_HZ = 100n;
const NANOS_PER_TICK = 1_000_000_000n / USER_HZ;

async function v1(paths: Record<string, string>): Promise<MetricsV1> {
  const dir = (c: string): string | undefined =>
    paths[c] === undefined ? undefined : `${ROOT}/${c}${paths[c]}`;
  const mem = dir('memory');
  const acct = dir('cpuacct');
  const cpu = dir('cpu');
  const pids = dir('pids');
  const [memStat, usage, limit, maxUsage, failcnt, swU, swL, swM, swF, kU, kL, kM, kF, oom] =
    await Promise.all(
      [
        'memory.stat',
        'memory.usage_in_bytes',
        'memory.limit_in_bytes',
        'memory.max_usage_in_bytes',
        'memory.failcnt',
        'memory.memsw.usage_in_bytes',
        'memory.memsw.limit_in_bytes',
        'memory.memsw.max_usage_in_bytes',
        'memory.memsw.failcnt',
        'memory.kmem.usage_in_bytes',
        'memory.kmem.limit_in_bytes',
        'memory.kmem.max_usage_in_bytes',
        'memory.kmem.failcnt',
        'memory.oom_control',
      ].map((f) => (mem ? read(`${mem}/${f}`) : Promise.resolve(undefined))),
    );
  const [accUsage, accStat, perCpu, cpuStat, pidsCur, pidsMax] = await Promise.all([
    acct ? read(`${acct}/cpuacct.usage`) : undefined,
    acct ? read(`${acct}/cpuacct.stat`) : undefined,
    acct ? read(`${acct}/cpuacct.usage_percpu`) : undefined,
    cpu ? read(`${cpu}/cpu.stat`) : undefined,
    pids ? read(`${pids}/pids.current`) : undefined,
    pids ? read(`${pids}/pids.max`) : undefined,
  ]);
  const m = MetricsV1.fromPartial({});
  if (pidsCur !== undefined) m.pids = { current: num(pidsCur), limit: num(pidsMax) };
  if (accUsage !== undefined) {
    const st = parseKeyValues(accStat);
    const thr = parseKeyValues(cpuStat);
    m.cpu = {
      usage: {
        total: num(accUsage),
        kernel: (st.get('system') ?? 0n) * NANOS_PER_TICK,
        user: (st.get('user') ?? 0n) * NANOS_PER_TICK,
        perCpu: (perCpu ?? '')
          .trim()
          .split(/\s+/)
          .filter((s) => s !== '')
          .map((s) => num(s)),
      },
      throttling: {
        periods: thr.get('nr_periods') ?? 0n,
        throttledPeriods: thr.get('nr_throttled') ?? 0n,
        throttledTime: thr.get('throttled_time') ?? 0n,
      },
    };
  }
  if (memStat !== undefined) {
    const s = parseKeyValues(memStat);
    const g = (k: string): bigint => s.get(k) ?? 0n;
    m.memory = {
      cache: g('cache'),
      rss: g('rss'),
      rssHuge: g('rss_huge'),
      mappedFile: g('mapped_file'),
      dirty: g('dirty'),
      writeback: g('writeback'),
      pgPgIn: g('pgpgin'),
      pgPgOut: g('pgpgout'),
      pgFault: g('pgfault'),
      pgMajFault: g('pgmajfault'),
      inactiveAnon: g('inactive_anon'),
      activeAnon: g('active_anon'),
      inactiveFile: g('inactive_file'),
      activeFile: g('active_file'),
      unevictable: g('unevictable'),
      hierarchicalMemoryLimit: g('hierarchical_memory_limit'),
      hierarchicalSwapLimit: g('hierarchical_memsw_limit'),
      totalCache: g('total_cache'),
      totalRss: g('total_rss'),
      totalRssHuge: g('total_rss_huge'),
      totalMappedFile: g('total_mapped_file'),
      totalDirty: g('total_dirty'),
      totalWriteback: g('total_writeback'),
      totalPgPgIn: g('total_pgpgin'),
      totalPgPgOut: g('total_pgpgout'),
      totalPgFault: g('total_pgfault'),
      totalPgMajFault: g('total_pgmajfault'),
      totalInactiveAnon: g('total_inactive_anon'),
      totalActiveAnon: g('total_active_anon'),
      totalInactiveFile: g('total_inactive_file'),
      totalActiveFile: g('total_active_file'),
      totalUnevictable: g('total_unevictable'),
      usage: { usage: num(usage), limit: num(limit), max: num(maxUsage), failcnt: num(failcnt) },
      swap: { usage: num(swU), limit: num(swL), max: num(swM), failcnt: num(swF) },
      kernel: { usage: num(kU), limit: num(kL), max: num(kM), failcnt: num(kF) },
      kernelTcp: undefined,
    };
    const o = parseKeyValues(oom);
    m.memoryOomControl = {
      oomKillDisable: o.get('oom_kill_disable') ?? 0n,
      underOom: o.get('under_oom') ?? 0n,
      oomKill: o.get('oom_kill') ?? 0n,
    };
  }
  return m;
}

async function v2(path: string): Promise<MetricsV2> {
  const dir = `${ROOT}${path}`;
  const [pidsCur, pidsMax, cpuStat, memStat, memCur, memMax, swapCur, swapMax, events] =
    await Promise.all(
      [
        'pids.current',
        'pids.max',
        'cpu.stat',
        'memory.stat',
        'memory.current',
        'memory.max',
        'memory.swap.current',
        'memory.swap.max',
        'memory.events',
      ].map((f) => read(`${dir}/${f}`)),
    );
  const m = MetricsV2.fromPartial({});
  if (pidsCur !== undefined) m.pids = { current: num(pidsCur), limit: num(pidsMax) };
  if (cpuStat !== undefined) {
    const c = parseKeyValues(cpuStat);
    const g = (k: string): bigint => c.get(k) ?? 0n;
    m.cpu = {
      usageUsec: g('usage_usec'),
      userUsec: g('user_usec'),
      systemUsec: g('system_usec'),
      nrPeriods: g('nr_periods'),
      nrThrottled: g('nr_throttled'),
      throttledUsec: g('throttled_usec'),
      psi: undefined,
    } as MetricsV2['cpu'];
  }
  if (memStat !== undefined) {
    const s = parseKeyValues(memStat);
    const g = (k: string): bigint => s.get(k) ?? 0n;
    m.memory = {
      ...MetricsV2.fromPartial({ memory: {} }).memory,
      anon: g('anon'),
      file: g('file'),
      kernelStack: g('kernel_stack'),
      slab: g('slab'),
      sock: g('sock'),
      shmem: g('shmem'),
      fileMapped: g('file_mapped'),
      fileDirty: g('file_dirty'),
      fileWriteback: g('file_writeback'),
      anonThp: g('anon_thp'),
      inactiveAnon: g('inactive_anon'),
      activeAnon: g('active_anon'),
      inactiveFile: g('inactive_file'),
      activeFile: g('active_file'),
      unevictable: g('unevictable'),
      slabReclaimable: g('slab_reclaimable'),
      slabUnreclaimable: g('slab_unreclaimable'),
      pgfault: g('pgfault'),
      pgmajfault: g('pgmajfault'),
      usage: num(memCur),
      usageLimit: memMax?.trim() === 'max' ? 0xffffffffffffffffn : num(memMax),
      swapUsage: num(swapCur),
      swapLimit: swapMax?.trim() === 'max' ? 0xffffffffffffffffn : num(swapMax),
    } as MetricsV2['memory'];
  }
  if (events !== undefined) {
    const e = parseKeyValues(events);
    m.memoryEvents = {
      low: e.get('low') ?? 0n,
      high: e.get('high') ?? 0n,
      max: e.get('max') ?? 0n,
      oom: e.get('oom') ?? 0n,
      oomKill: e.get('oom_kill') ?? 0n,
    };
  }
  return m;
}
