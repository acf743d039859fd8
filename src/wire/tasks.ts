import { type Process, Status } from '../api/containerd/types/task/task.js';
import type { ProcessState, ProcessStatus } from '../core/tasks/index.js';
import { toTimestamp } from './timestamp.js';

const TO_PROTO: Record<ProcessStatus, Status> = {
  unknown: Status.UNKNOWN,
  created: Status.CREATED,
  running: Status.RUNNING,
  stopped: Status.STOPPED,
  paused: Status.PAUSED,
  pausing: Status.PAUSING,
};

const FROM_PROTO: Record<number, ProcessStatus> = {
  [Status.CREATED]: 'created',
  [Status.RUNNING]: 'running',
  [Status.STOPPED]: 'stopped',
  [Status.PAUSED]: 'paused',
  [Status.PAUSING]: 'pausing',
};

export function processStatusToProto(s: ProcessStatus): Status {
  return TO_PROTO[s];
}

/** A status the domain does not know reads as `unknown`. */
export function processStatusFromProto(s: Status): ProcessStatus {
  return FROM_PROTO[s] ?? 'unknown';
}

/**
 * A process state on the wire. containerd leaves `container_id` empty and
 * puts the container id (init) or exec id in `id`; so does berth.
 */
export function processToProto(s: ProcessState): Process {
  return {
    containerId: '',
    id: s.id,
    pid: s.pid,
    status: processStatusToProto(s.status),
    stdin: s.stdin,
    stdout: s.stdout,
    stderr: s.stderr,
    terminal: s.terminal,
    exitStatus: s.exitStatus,
    exitedAt: toTimestamp(s.exitedAt),
  };
}
