import { failedPrecondition, notFound } from '../core/errdefs/index.js';
import type { ConsoleLike } from './deps.js';
import type { ProcessIO } from './io.js';

/**
 * A container process (the init or an exec) as the Go shim keeps it: its
 * state, pid, stdio and, once it exited, its status and time, kept for Wait
 * callers that come late.
 *
 * States: created → running ⇄ paused (init only) → stopped → deleted. The
 * operations a state refuses fail with the Go shim's words (`cannot start a
 * running process`), as failed_precondition; kill and delete of a deleted
 * process as not_found.
 */
export type ProcessStatus = 'created' | 'running' | 'paused' | 'pausing' | 'stopped' | 'deleted';

export type Operation =
  | 'start'
  | 'delete'
  | 'kill'
  | 'pause'
  | 'resume'
  | 'exec'
  | 'update'
  | 'checkpoint'
  | 'resize';

const ALLOWED: Record<Exclude<ProcessStatus, 'pausing'>, readonly Operation[]> = {
  created: ['start', 'delete', 'kill', 'update', 'checkpoint', 'resize', 'exec'],
  running: ['kill', 'pause', 'update', 'checkpoint', 'exec', 'resize'],
  paused: ['kill', 'resume', 'update', 'checkpoint', 'resize'],
  stopped: ['delete', 'kill'],
  deleted: [],
};

/** Throws the Go shim's refusal when `op` is not allowed in `status`. */
export function checkOperation(status: ProcessStatus, op: Operation, init: boolean): void {
  const s = status === 'pausing' ? 'running' : status;
  // The Go shim resizes an init's console whatever its state (a no-op once gone).
  if (op === 'resize' && init && s === 'stopped') return;
  if (ALLOWED[s].includes(op)) {
    // An exec is never paused itself; pause/resume are the container's.
    if (!init && (op === 'pause' || op === 'resume' || op === 'update' || op === 'checkpoint')) {
      throw failedPrecondition(`cannot ${op} an exec process`);
    }
    return;
  }
  const what = s === 'stopped' || s === 'paused' ? 'container' : 'process';
  switch (op) {
    case 'delete':
      if (s === 'deleted') throw notFound('cannot delete a deleted process');
      throw failedPrecondition(`cannot delete a ${s} process`);
    case 'kill':
      throw notFound('cannot kill a deleted process');
    case 'start':
      throw failedPrecondition(`cannot start a ${s} process`);
    case 'exec':
      throw failedPrecondition(`cannot exec in a ${s} state`);
    case 'resize':
      throw failedPrecondition(`cannot resize a ${s} ${s === 'stopped' ? 'container' : 'process'}`);
    case 'pause':
      throw failedPrecondition(
        s === 'paused' ? 'cannot pause a paused container' : `cannot pause a ${s} ${what}`,
      );
    case 'resume':
      throw failedPrecondition(`cannot resume a ${s} ${s === 'running' ? 'process' : what}`);
    default:
      throw failedPrecondition(`cannot ${op} a ${s} ${what}`);
  }
}

export interface Stdio {
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
}

export class Process {
  pid = 0;
  status: ProcessStatus = 'created';
  exitStatus = 0;
  exitedAt: Date | undefined;
  io: ProcessIO | undefined;
  console: ConsoleLike | undefined;
  /** A Start is under way (a second one is refused). */
  starting = false;
  private readonly exited: Promise<void>;
  private resolveExited!: () => void;

  constructor(
    /** The exec id, or the container id for the init. */
    readonly id: string,
    readonly init: boolean,
    readonly stdio: Stdio,
  ) {
    this.exited = new Promise((resolve) => {
      this.resolveExited = resolve;
    });
  }

  check(op: Operation): void {
    checkOperation(this.status, op, this.init);
  }

  /** Resolves once the process has exited (its status and time are set). */
  wait(signal?: AbortSignal): Promise<void> {
    if (!signal) return this.exited;
    return new Promise((resolve, reject) => {
      if (signal.aborted) {
        reject(signal.reason);
        return;
      }
      const onAbort = (): void => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      void this.exited.then(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      });
    });
  }

  get hasExited(): boolean {
    return this.exitedAt !== undefined;
  }

  /** Records the exit (once) and wakes the waiters. */
  setExited(status: number, at: Date): void {
    if (this.exitedAt !== undefined) return;
    this.exitStatus = status;
    this.exitedAt = at;
    if (this.status !== 'deleted') this.status = 'stopped';
    this.resolveExited();
  }

  /** Closes the shim's ends of the process' stdio. */
  closeIO(): void {
    this.io?.close();
    this.console?.close();
  }
}
