import type { ChildProcess, SpawnOptions } from 'node:child_process';
import type { Logger } from '../core/log/index.js';

/**
 * What the shim's service needs of the OS-facing parts (src/shim/reaper.ts,
 * console.ts, oom.ts), as small structural types:
 * main.ts passes the real ones, tests may pass doubles.
 */

export interface ProcessExit {
  pid: number;
  /** exit code, or 128+signal */
  status: number;
  exitedAt: Date;
}

export interface ReaperLike {
  spawn(command: string, args: string[], opts: SpawnOptions): ChildProcess;
  /** Resolves when `pid` (a reparented child) exits, at once if it already has. */
  wait(pid: number): Promise<ProcessExit>;
}

export interface ConsoleSocketLike {
  readonly path: string;
  receive(timeoutMs: number): Promise<number>;
  close(): void;
}

export interface ConsoleLike {
  start(io: { stdin: string; stdout: string }): void;
  resize(width: number, height: number): void;
  closeStdin(): void;
  readonly done: Promise<void>;
  close(): void;
}

export interface OomWatcherLike {
  add(id: string, pid: number): void;
  remove(id: string): void;
  onOom(listener: (id: string) => void): void;
  close(): void;
}

export interface ShimDeps {
  reaper: ReaperLike;
  /** A listening console socket in `dir` (runc's --console-socket). */
  consoleSocket(dir: string): Promise<ConsoleSocketLike>;
  /** Copies between the pty master and the process' FIFOs. */
  console(masterFd: number, log: Logger): ConsoleLike;
  oom?: OomWatcherLike;
}
