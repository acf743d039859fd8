import { readFileSync } from 'node:fs';
import type { Client } from '../../client/index.js';

/** containerd's task states (containerd.v1.types.Status), as berth names them. */
export type TaskStatus = 'unknown' | 'created' | 'running' | 'stopped' | 'paused' | 'pausing';

/** A container's task as the Tasks service lists it. */
export interface TaskInfo {
  /** The container's id. */
  id: string;
  pid: number;
  status: TaskStatus;
  exitStatus: number;
  /** When the task exited; undefined while it runs or if it never ran. */
  exitedAt: Date | undefined;
}

const STATUS: readonly TaskStatus[] = [
  'unknown',
  'created',
  'running',
  'stopped',
  'paused',
  'pausing',
];

/** The Tasks service's Process message, as far as berth reads it (the generated type is in src/api). */
interface ProcessPb {
  id: string;
  containerId: string;
  pid: number;
  status: number;
  exitStatus: number;
  exitedAt?: { seconds: bigint | number | string; nanos: number } | undefined;
}

/** A task from the wire message: containerd puts the container id in `id`. */
export function taskFromProto(p: ProcessPb): TaskInfo {
  const secs = Number(p.exitedAt?.seconds ?? 0);
  const ms = secs * 1000 + Math.floor((p.exitedAt?.nanos ?? 0) / 1e6);
  return {
    id: p.id || p.containerId,
    pid: p.pid,
    status: STATUS[p.status] ?? 'unknown',
    exitStatus: p.exitStatus,
    // containerd answers the zero time (year 1) or the epoch for a task that has not exited.
    exitedAt: ms > 0 ? new Date(ms) : undefined,
  };
}

/**
 * Every task of the client's namespace, by container id: ONE call to the
 * Tasks service's List, whatever the number of containers (what `ps`,
 * `prune` and `info` need, never one call per container).
 */
export async function listTasks(
  client: Client,
  signal?: AbortSignal,
): Promise<Map<string, TaskInfo>> {
  const conn = client.connection;
  const res = await conn.rpc.unary<{ tasks: ProcessPb[] }>(
    { namespace: client.namespace, signal },
    (md, o, cb) => conn.tasks.list({ filter: '' }, md, o, cb),
  );
  return new Map(res.tasks.map((p) => [p.id || p.containerId, taskFromProto(p)]));
}

/** A task from the client's grpc-free list (`listContainersAndTasks`, what `ps` uses). */
export function taskFromListed(t: {
  id: string;
  pid: number;
  status: number;
  exitStatus: number;
  exitedAtNanos: bigint;
}): TaskInfo {
  return {
    id: t.id,
    pid: t.pid,
    status: STATUS[t.status] ?? 'unknown',
    exitStatus: t.exitStatus,
    exitedAt: t.exitedAtNanos > 0n ? new Date(Number(t.exitedAtNanos / 1_000_000n)) : undefined,
  };
}

let bootMs: number | undefined;
/** Clock ticks per second of /proc/<pid>/stat's start time: USER_HZ, 100 on every Linux berth runs on. */
const USER_HZ = 100;

/**
 * When process `pid` started, from /proc (the task service does not keep a
 * start time; the daemon is on this host, its socket is a local file).
 * Undefined when the process is gone or /proc is unreadable.
 */
export function processStartTime(pid: number): Date | undefined {
  if (pid <= 0) return undefined;
  try {
    if (bootMs === undefined) {
      const btime = /^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'));
      if (btime === null) return undefined;
      bootMs = Number(btime[1]) * 1000;
    }
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command (field 2) may hold spaces and parentheses: fields follow the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[19]);
    if (!Number.isFinite(ticks)) return undefined;
    return new Date(bootMs + (ticks * 1000) / USER_HZ);
  } catch {
    return undefined;
  }
}
