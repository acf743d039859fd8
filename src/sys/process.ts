/**
 * @module process
 * Process-level calls for berth's shim: becoming a child subreaper, reaping
 * one known child without waiting, listing this process's children, and the
 * fd plumbing (pipes, dup, close-on-exec) its stdio needs.
 *
 * Never wait for "any child" (waitpid(-1)): Node's libuv reaps the children it
 * spawned itself, by pid, on SIGCHLD; a wildcard wait would take their exit
 * statuses and their 'exit' events would never come.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { setPriority } from 'node:os';
import { fcntl, O_CLOEXEC, pipe2, prctl, waitpidNoHang } from './linux.js';

/** How a child ended. */
export interface WaitStatus {
  pid: number;
  /** exit code, or 128+signal as containerd reports it */
  status: number;
  /** The signal that killed it, when one did. */
  signal?: number;
}

const PR_SET_CHILD_SUBREAPER = 36;
const F_DUPFD_CLOEXEC = 1030;
const F_GETFD = 1;
const F_SETFD = 2;
const FD_CLOEXEC = 1;

/**
 * prctl(PR_SET_CHILD_SUBREAPER, 1): orphaned descendants (a container's init
 * once `runc create` exits) are reparented to this process instead of init.
 */
export function setChildSubreaper(): void {
  prctl(PR_SET_CHILD_SUBREAPER, 1);
}

/**
 * waitpid(pid, WNOHANG): undefined while `pid` runs (or is only stopped),
 * else how it ended (it is reaped then). Throws ECHILD (node:fs-shaped) when
 * `pid` is not a child of this process or was reaped already.
 */
export function waitPid(pid: number): WaitStatus | undefined {
  const s = waitpidNoHang(pid);
  if (s === undefined) return undefined;
  if (s.signal !== null) return { pid, status: 128 + s.signal, signal: s.signal };
  return { pid, status: s.code ?? 0 };
}

/**
 * This process's children (running and zombies alike), from
 * /proc/self/task/<tid>/children of every thread: a child belongs to the
 * thread that forked it, and reparented orphans to one of ours.
 */
export function childPids(): number[] {
  const out: number[] = [];
  let tasks: string[];
  try {
    tasks = readdirSync('/proc/self/task');
  } catch {
    return out;
  }
  for (const tid of tasks) {
    let text: string;
    try {
      text = readFileSync(`/proc/self/task/${tid}/children`, 'latin1');
    } catch {
      continue; // the thread ended meanwhile
    }
    for (const p of text.split(' ')) {
      if (p === '' || p === '\n') continue;
      const pid = Number.parseInt(p, 10);
      if (pid > 0) out.push(pid);
    }
  }
  return out;
}

/** pipe2(O_CLOEXEC): `[read end, write end]`, blocking, not inherited by spawned children. */
export function pipe(): [readFd: number, writeFd: number] {
  return pipe2(O_CLOEXEC);
}

/** A close-on-exec duplicate of `fd` (fcntl F_DUPFD_CLOEXEC). */
export function dup(fd: number): number {
  return fcntl(fd, F_DUPFD_CLOEXEC, 0);
}

/** Sets or clears FD_CLOEXEC on `fd` (clear it on an fd a child must inherit). */
export function setCloexec(fd: number, on: boolean): void {
  const flags = fcntl(fd, F_GETFD);
  fcntl(fd, F_SETFD, on ? flags | FD_CLOEXEC : flags & ~FD_CLOEXEC);
}

/** True when `fd` is close-on-exec. */
export function isCloexec(fd: number): boolean {
  return (fcntl(fd, F_GETFD) & FD_CLOEXEC) !== 0;
}

/**
 * Gives every thread of process `pid` the nice value `nice`. Linux keeps a
 * nice value per thread (setpriority on a pid reaches only the thread of
 * that id), and a new thread or child takes its maker's: so the main thread
 * goes first and the threads are listed twice, a thread made while the first
 * pass ran being caught by the second. A thread that ended meanwhile is
 * skipped; any other failure (EACCES: lowering a nice value takes
 * CAP_SYS_NICE) throws, with some threads changed.
 */
export function setProcessNice(pid: number, nice: number): void {
  setPriority(pid, nice);
  for (let pass = 0; pass < 2; pass++) {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        setPriority(Number(tid), nice);
      } catch (err) {
        if ((err as { info?: { code?: string } }).info?.code !== 'ESRCH') throw err;
      }
    }
  }
}

/** The nice value of thread `tid` (field 19 of /proc/<tid>/stat). */
export function niceOf(tid: number): number {
  const stat = readFileSync(`/proc/${tid}/stat`, 'latin1');
  // The command may hold spaces and parentheses: count fields after the last ')'.
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
}
