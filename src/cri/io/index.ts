/**
 * @module cri/io
 * The standard streams of CRI containers and execs, as containerd's
 * `pkg/cri/io`: FIFOs under berthd's state that the shim opens, container
 * output copied into CRI-format log files (`<RFC3339Nano> <stdout|stderr>
 * <P|F> <text>`, reopened for kubelet's rotation) and fanned out to attached
 * clients, and the exec plumbing of Exec and ExecSync.
 *
 * ```ts
 * const cio = await ContainerIO.create(`${volatileDir}/io`, { tty, stdin, stdinOnce });
 * await cio.startLogging(logPath);
 * await tasks.create(ctx, id, { ...opts, io: cio.io });
 * const r = await execSync(task, execId, processSpec, { ctx, dir: cio.dir, timeoutMs });
 * ```
 */

export type { StreamOptions, TermSize } from '../streaming/types.js';
export { type AttachOptions, ContainerIO, type ContainerIOOptions } from './container-io.js';
export {
  CriLogLineWriter,
  DEFAULT_MAX_CONTAINER_LOG_LINE_SIZE,
  type StreamType,
} from './cri-logger.js';
export {
  CappedBuffer,
  type ExecOptions,
  type ExecSyncResult,
  execSync,
  MAX_EXEC_SYNC_OUTPUT,
  runExec,
} from './exec.js';
export { formatGoDuration } from './go-duration.js';
export { DEFAULT_MAX_ATTACH_BUFFER } from './output-pump.js';
export { formatRFC3339Nano } from './timestamp.js';
