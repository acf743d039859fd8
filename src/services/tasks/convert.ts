import type { Process } from '../../api/containerd/types/task/task.js';
import { Status } from '../../api/containerd/types/task/task.js';
import type { ProcessState, ProcessStatus } from '../../core/tasks/index.js';
import { toTimestamp } from '../timestamp.js';

const STATUS: Record<ProcessStatus, Status> = {
  unknown: Status.UNKNOWN,
  created: Status.CREATED,
  running: Status.RUNNING,
  stopped: Status.STOPPED,
  paused: Status.PAUSED,
  pausing: Status.PAUSING,
};

/**
 * A process state on the wire. containerd leaves `container_id` empty and
 * puts the container id (init) or exec id in `id`; so does berth.
 */
export function processToProto(s: ProcessState): Process {
  return {
    containerId: '',
    id: s.id,
    pid: s.pid,
    status: STATUS[s.status],
    stdin: s.stdin,
    stdout: s.stdout,
    stderr: s.stderr,
    terminal: s.terminal,
    exitStatus: s.exitStatus,
    exitedAt: toTimestamp(s.exitedAt),
  };
}
