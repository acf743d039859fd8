/**
 * @module
 * `berth stats` figures, docker's: CPU % from two samples of the task's
 * cgroup CPU time, memory usage (without the inactive page cache, as
 * docker's CLI counts it) against the limit (the host's memory when the
 * cgroup has none), network bytes from /proc/<pid>/net/dev, block I/O
 * from blkio (v1) or io.stat (v2), and the number of pids.
 */
import { readFileSync } from 'node:fs';
import type { CgroupMetrics } from '../../client/index.js';
import { bytesSize, humanSize } from '../format/index.js';

/** One sample of a task's figures. */
export interface StatsSample {
  /** Cumulated CPU time, nanoseconds. */
  cpuNs: number;
  memUsage: number;
  /** 0 when unlimited. */
  memLimit: number;
  blkRead: number;
  blkWrite: number;
  pids: number;
  /** When it was taken (ms). */
  at: number;
}

/** A cgroup's "no limit" (v1: page-aligned max int64); anything above the host's memory is none. */
function limitOrNone(limit: number, hostMemory: number): number {
  return limit <= 0 || limit >= hostMemory ? 0 : limit;
}

/** The figures of decoded cgroup metrics. */
export function sampleOf(
  m: CgroupMetrics | undefined,
  at: number,
  hostMemory: number,
): StatsSample {
  const s: StatsSample = {
    cpuNs: 0,
    memUsage: 0,
    memLimit: 0,
    blkRead: 0,
    blkWrite: 0,
    pids: 0,
    at,
  };
  if (m === undefined) return s;
  if (m.version === 1) {
    const st = m.stats;
    s.cpuNs = Number(st.cpu?.usage?.total ?? 0n);
    const usage = Number(st.memory?.usage?.usage ?? 0n);
    const inactive = Number(st.memory?.totalInactiveFile ?? 0n);
    s.memUsage = inactive < usage ? usage - inactive : usage;
    s.memLimit = limitOrNone(Number(st.memory?.usage?.limit ?? 0n), hostMemory);
    for (const e of st.blkio?.ioServiceBytesRecursive ?? []) {
      const op = e.op.toLowerCase();
      if (op === 'read') s.blkRead += Number(e.value);
      else if (op === 'write') s.blkWrite += Number(e.value);
    }
    s.pids = Number(st.pids?.current ?? 0n);
  } else {
    const st = m.stats;
    s.cpuNs = Number(st.cpu?.usageUsec ?? 0n) * 1000;
    const usage = Number(st.memory?.usage ?? 0n);
    const inactive = Number(st.memory?.inactiveFile ?? 0n);
    s.memUsage = inactive < usage ? usage - inactive : usage;
    s.memLimit = limitOrNone(Number(st.memory?.usageLimit ?? 0n), hostMemory);
    for (const e of st.io?.usage ?? []) {
      s.blkRead += Number(e.rbytes);
      s.blkWrite += Number(e.wbytes);
    }
    s.pids = Number(st.pids?.current ?? 0n);
  }
  return s;
}

/** CPU use between two samples, in % of one CPU (docker's figure: 200% is two CPUs busy). */
export function cpuPercent(prev: StatsSample | undefined, cur: StatsSample): number {
  if (prev === undefined) return 0;
  const wall = (cur.at - prev.at) * 1e6;
  const cpu = cur.cpuNs - prev.cpuNs;
  return wall > 0 && cpu > 0 ? (cpu / wall) * 100 : 0;
}

/** Received and sent bytes of a process's network namespace, loopback left out (/proc/<pid>/net/dev). */
export function netIO(pid: number): { rx: number; tx: number } {
  try {
    return parseNetDev(readFileSync(`/proc/${pid}/net/dev`, 'utf8'));
  } catch {
    return { rx: 0, tx: 0 };
  }
}

export function parseNetDev(text: string): { rx: number; tx: number } {
  let rx = 0;
  let tx = 0;
  for (const line of text.split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    if (line.slice(0, colon).trim() === 'lo') continue;
    const f = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .map(Number);
    rx += f[0] ?? 0;
    tx += f[8] ?? 0;
  }
  return { rx, tx };
}

/** `docker stats`' row: its template fields. */
export interface StatsRow {
  Container: string;
  ID: string;
  Name: string;
  CPUPerc: string;
  MemUsage: string;
  MemPerc: string;
  NetIO: string;
  BlockIO: string;
  PIDs: string;
}

export function statsRow(
  id: string,
  name: string,
  prev: StatsSample | undefined,
  cur: StatsSample | undefined,
  net: { rx: number; tx: number },
  hostMemory: number,
  noTrunc = false,
): StatsRow {
  const shortId = noTrunc ? id : id.slice(0, 12);
  if (cur === undefined) {
    return {
      Container: shortId,
      ID: shortId,
      Name: name,
      CPUPerc: '0.00%',
      MemUsage: '0B / 0B',
      MemPerc: '0.00%',
      NetIO: '0B / 0B',
      BlockIO: '0B / 0B',
      PIDs: '0',
    };
  }
  const limit = cur.memLimit > 0 ? cur.memLimit : hostMemory;
  return {
    Container: shortId,
    ID: shortId,
    Name: name,
    CPUPerc: `${cpuPercent(prev, cur).toFixed(2)}%`,
    MemUsage: `${bytesSize(cur.memUsage)} / ${bytesSize(limit)}`,
    MemPerc: `${(limit > 0 ? (cur.memUsage / limit) * 100 : 0).toFixed(2)}%`,
    NetIO: `${humanSize(net.rx)} / ${humanSize(net.tx)}`,
    BlockIO: `${humanSize(cur.blkRead)} / ${humanSize(cur.blkWrite)}`,
    PIDs: String(cur.pids),
  };
}

/** docker stats' default table. */
export const STATS_COLUMNS = [
  { header: 'CONTAINER ID', value: (r: StatsRow) => r.ID },
  { header: 'NAME', value: (r: StatsRow) => r.Name },
  { header: 'CPU %', value: (r: StatsRow) => r.CPUPerc },
  { header: 'MEM USAGE / LIMIT', value: (r: StatsRow) => r.MemUsage },
  { header: 'MEM %', value: (r: StatsRow) => r.MemPerc },
  { header: 'NET I/O', value: (r: StatsRow) => r.NetIO },
  { header: 'BLOCK I/O', value: (r: StatsRow) => r.BlockIO },
  { header: 'PIDS', value: (r: StatsRow) => r.PIDs },
];

export const STATS_TABLE = {
  columns: STATS_COLUMNS,
  headers: {
    Container: 'CONTAINER',
    ID: 'CONTAINER ID',
    Name: 'NAME',
    CPUPerc: 'CPU %',
    MemUsage: 'MEM USAGE / LIMIT',
    MemPerc: 'MEM %',
    NetIO: 'NET I/O',
    BlockIO: 'BLOCK I/O',
    PIDs: 'PIDS',
  },
};
