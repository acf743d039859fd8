/**
 * @module reaper
 * Reaping for berth's shim, which is a child subreaper: container inits and
 * exec processes are reparented to it when their `runc` parent exits.
 *
 * On SIGCHLD the reaper lists this process's children and reaps, by pid and
 * without waiting, every one that is not a Node child: the children Node
 * spawned (runc, loggers) are libuv's to reap, so they must be spawned through
 * {@link Reaper.spawn}, which keeps their pids out of reach. A wildcard
 * waitpid(-1) is never used: it would steal libuv's exits.
 */
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { canceled, invalidArgument, notFound } from '../core/errdefs/index.js';
import type { Logger } from '../core/log/index.js';
import { isErrno, prctl } from '../sys/linux.js';
import { childPids, setChildSubreaper, waitPid } from '../sys/process.js';

/** A reaped process: its pid, exit status (128+signal when killed) and when the shim saw it end. */
export interface ProcessExit {
  pid: number;
  status: number;
  exitedAt: Date;
}

/** Exits nobody waited for are kept this long, at most this many. */
const KEEP_MS = 60_000;
const KEEP_MAX = 4096;
/** Passes per SIGCHLD: one pass reaps every zombie present; more only while children keep exiting. */
const MAX_PASSES = 64;
/**
 * While someone waits, a timer keeps the event loop alive (a SIGCHLD listener
 * does not) and sweeps now and then, should a signal ever go unhandled.
 */
const SWEEP_MS = 5000;

interface Waiter {
  resolve: (e: ProcessExit) => void;
  reject: (err: Error) => void;
}

export class Reaper {
  private static current: Reaper | undefined;

  /** pids of Node's own children (libuv reaps them) and of children reaped elsewhere. */
  private readonly excluded = new Map<number, number>();
  /** Exits nobody waited for yet, oldest first (Map keeps insertion order). */
  private readonly kept = new Map<number, ProcessExit>();
  private readonly waiters = new Map<number, Waiter[]>();
  private readonly subscriptions = new Set<ProcessExit[]>();
  private readonly listeners = new Set<(e: ProcessExit) => void>();
  private readonly onSignal = () => this.reap();
  private closed = false;
  private sweeper: NodeJS.Timeout | undefined;

  private constructor(private readonly log: Logger) {}

  /** Makes this process a child subreaper and starts handling SIGCHLD. One per process. */
  static start(log: Logger): Reaper {
    if (Reaper.current) throw invalidArgument('reaper: already started in this process');
    setChildSubreaper();
    const r = new Reaper(log);
    Reaper.current = r;
    process.on('SIGCHLD', r.onSignal);
    // Children that ended before the listener was in place sent their SIGCHLD to nobody.
    r.reap();
    return r;
  }

  /** child_process.spawn whose child the reaper never reaps (libuv does). Use for every runc/logger spawn. */
  spawn(command: string, args: string[], opts: SpawnOptions): ChildProcess {
    const child = spawn(command, args, opts);
    const pid = child.pid;
    if (pid !== undefined) {
      // Synchronously, before any SIGCHLD can be handled.
      const release = this.exclude(pid);
      child.once('exit', () => {
        release();
        // The pid is free again: a reparented orphan may hold it already.
        if (!this.closed) setImmediate(() => this.reap());
      });
    }
    return child;
  }

  /**
   * Keeps the reaper away from `pid`, a child something else reaps (e.g. a
   * posix_spawn'd child waited for by pid). Call it before the child can
   * exit; the returned function ends the exclusion once it is reaped.
   */
  exclude(pid: number): () => void {
    this.excluded.set(pid, (this.excluded.get(pid) ?? 0) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const n = (this.excluded.get(pid) ?? 1) - 1;
      if (n <= 0) this.excluded.delete(pid);
      else this.excluded.set(pid, n);
    };
  }

  /** Resolves when `pid` (a reparented child) exits — at once if it already exited (kept exit or zombie). */
  wait(pid: number): Promise<ProcessExit> {
    if (this.closed) return Promise.reject(canceled('reaper: closed'));
    const kept = this.takeKept(pid);
    if (kept) return Promise.resolve(kept);
    if (this.excluded.has(pid)) {
      return Promise.reject(
        invalidArgument(
          `reaper: process ${pid} is a child Node spawned; wait for its 'exit' event`,
        ),
      );
    }
    return new Promise<ProcessExit>((resolve, reject) => {
      const list = this.waiters.get(pid) ?? [];
      list.push({ resolve, reject });
      this.waiters.set(pid, list);
      this.sweeper ??= setInterval(() => this.reap(), SWEEP_MS);
      // Already a zombie (its SIGCHLD not handled yet), or not our child at all.
      try {
        const st = waitPid(pid);
        if (st) this.deliver({ pid, status: st.status, exitedAt: new Date() });
      } catch (err) {
        this.waiters.delete(pid);
        this.stopSweeperIfIdle();
        if (isErrno(err, 'ECHILD')) {
          reject(
            notFound(`reaper: process ${pid} is not a child of this shim (or was reaped long ago)`),
          );
        } else {
          reject(err as Error);
        }
      }
    });
  }

  /** Exits seen while the subscription is open are kept in `exits` even if nobody waited (for runc create/exec). */
  subscribe(): { exits: ProcessExit[]; close(): void } {
    const exits: ProcessExit[] = [];
    this.subscriptions.add(exits);
    return { exits, close: () => this.subscriptions.delete(exits) };
  }

  /** Every exit of a non-node child (containers, execs, orphaned grandchildren). */
  onExit(listener: (e: ProcessExit) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stops handling SIGCHLD, stops being a subreaper; pending waits reject with `canceled`. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    process.off('SIGCHLD', this.onSignal);
    if (Reaper.current === this) Reaper.current = undefined;
    try {
      prctl(36 /* PR_SET_CHILD_SUBREAPER */, 0);
    } catch {
      // nothing to undo
    }
    for (const list of this.waiters.values()) {
      for (const w of list) w.reject(canceled('reaper: closed'));
    }
    this.waiters.clear();
    this.stopSweeperIfIdle();
    this.kept.clear();
    this.subscriptions.clear();
    this.listeners.clear();
  }

  /** Reaps every child that ended and is not Node's, until a pass finds none. */
  reap(): void {
    if (this.closed) return;
    for (let pass = 0; pass < MAX_PASSES; pass++) {
      let reaped = 0;
      for (const pid of childPids()) {
        if (this.excluded.has(pid)) continue;
        let st: ReturnType<typeof waitPid>;
        try {
          st = waitPid(pid);
        } catch (err) {
          // ECHILD: reaped meanwhile (a waiter), or a thread's child in a state waitpid skips.
          if (!isErrno(err, 'ECHILD')) this.log.warn({ err, pid }, 'reaper: waitpid failed');
          continue;
        }
        if (!st) continue;
        reaped++;
        this.deliver({ pid, status: st.status, exitedAt: new Date() });
      }
      if (reaped === 0) return;
    }
  }

  private deliver(e: ProcessExit): void {
    for (const sub of this.subscriptions) sub.push(e);
    for (const listener of this.listeners) {
      try {
        listener(e);
      } catch (err) {
        this.log.error({ err, pid: e.pid }, 'reaper: exit listener failed');
      }
    }
    const list = this.waiters.get(e.pid);
    if (list) {
      this.waiters.delete(e.pid);
      this.stopSweeperIfIdle();
      for (const w of list) w.resolve(e);
      return;
    }
    this.keep(e);
  }

  private stopSweeperIfIdle(): void {
    if (this.waiters.size > 0 || !this.sweeper) return;
    clearInterval(this.sweeper);
    this.sweeper = undefined;
  }

  private keep(e: ProcessExit): void {
    this.kept.delete(e.pid); // a reused pid: the newer exit wins
    this.kept.set(e.pid, e);
    const cutoff = e.exitedAt.getTime() - KEEP_MS;
    for (const [pid, old] of this.kept) {
      if (this.kept.size <= KEEP_MAX && old.exitedAt.getTime() >= cutoff) break;
      this.kept.delete(pid);
    }
  }

  private takeKept(pid: number): ProcessExit | undefined {
    const e = this.kept.get(pid);
    if (!e) return undefined;
    this.kept.delete(pid);
    if (Date.now() - e.exitedAt.getTime() > KEEP_MS) return undefined;
    return e;
  }
}
