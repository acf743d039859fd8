import type { GcScheduler, GcStats } from '../core/gc/index.js';
import type { Logger } from '../core/log/index.js';

/** The timers a {@link CollectionScheduler} uses; replaceable in tests. */
export interface SchedulerClock {
  /** Milliseconds on a monotonic scale. */
  now(): number;
  /** `keepAlive`: the timer holds the process open (someone awaits the run). */
  setTimeout(fn: () => void, ms: number, keepAlive: boolean): unknown;
  clearTimeout(handle: unknown): void;
}

const realClock: SchedulerClock = {
  now: () => performance.now(),
  setTimeout: (fn, ms, keepAlive) => {
    const t = setTimeout(fn, ms);
    if (!keepAlive) t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** containerd's gc/scheduler defaults (1.6), where berth uses them. */
export const DEFAULT_PAUSE_THRESHOLD = 0.02;
export const DEFAULT_DELETION_THRESHOLD = 0;
/** Retry delay added after a failed collection, as containerd's scheduler. */
const FAILURE_BACKOFF_MS = 1000;

export interface SchedulerOptions {
  /** One collection; its `pauseNanos` feeds the pause-share bound. */
  collect: () => Promise<GcStats>;
  log: Logger;
  /**
   * Largest share of time scheduled collections may hold the write lock
   * (0.02: 2 %); clamped to [0, 0.5], 0 disables the bound.
   */
  pauseThreshold?: number;
  /**
   * Deletions after which a collection runs after `scheduleDelayMs` whatever
   * the pause bound; 0: deletions never bypass the bound.
   */
  deletionThreshold?: number;
  /** Delay before a requested or triggered collection; coalesces bursts. */
  scheduleDelayMs?: number;
  clock?: SchedulerClock;
}

/**
 * When to collect (containerd's gc/scheduler). Collections never overlap.
 *
 * - A deletion ({@link schedule}) makes a collection due `scheduleDelayMs`
 *   later, but not before the pause-share bound allows: after a collection
 *   the next waits `avg/pauseThreshold - avg`, where avg is the mean write
 *   lock time of the collections so far, so scheduled collections hold the
 *   lock at most `pauseThreshold` of the time. Deletions in between join the
 *   one collection. Once `deletionThreshold` deletions have piled up (if
 *   set) the bound no longer holds them back.
 * - {@link collect} (sync deletes, namespace delete) asks for a collection
 *   that starts after the call, `scheduleDelayMs` later whatever the bound,
 *   and resolves with its stats once it is over (rejects if it failed).
 * - {@link scheduleIn} makes one due after a given delay (the start-up run).
 * - A failed collection is retried after the interval plus 1 s.
 *
 * containerd runs a ticker that skips idle ticks; here a timer is armed only
 * while something is due, which schedules the same collections.
 */
export class CollectionScheduler implements GcScheduler {
  private readonly clock: SchedulerClock;
  private readonly pauseThreshold: number;
  private readonly deletionThreshold: number;
  private readonly scheduleDelayMs: number;

  private timer: unknown;
  private timerDue = Number.POSITIVE_INFINITY;
  private timerKeepsAlive = false;
  private running: Promise<void> | undefined;
  private closed = false;

  /** Deletions since the last collection started. */
  private deletions = 0;
  /** Earliest time explicitly asked for ({@link scheduleIn}, retries). */
  private requestedAt = Number.POSITIVE_INFINITY;
  /** Callers of {@link collect} waiting for the next collection to start. */
  private waiters: { resolve: (s: GcStats) => void; reject: (e: unknown) => void }[] = [];

  private lastEnd: number | undefined;
  /** After a failure, scheduled collections wait until then. */
  private backoffUntil = 0;
  private pauseTotalMs = 0;
  private collections = 0;

  constructor(private readonly opts: SchedulerOptions) {
    this.clock = opts.clock ?? realClock;
    this.pauseThreshold = Math.min(
      Math.max(opts.pauseThreshold ?? DEFAULT_PAUSE_THRESHOLD, 0),
      0.5,
    );
    this.deletionThreshold = Math.max(opts.deletionThreshold ?? DEFAULT_DELETION_THRESHOLD, 0);
    this.scheduleDelayMs = Math.max(opts.scheduleDelayMs ?? 0, 0);
  }

  /** Notes a deletion (containerd's dirty mutation): a collection soon. */
  schedule(): void {
    this.deletions++;
    this.reschedule();
  }

  /** Makes a collection due in `delayMs` at the latest. */
  scheduleIn(delayMs: number): void {
    this.requestedAt = Math.min(this.requestedAt, this.clock.now() + Math.max(delayMs, 0));
    this.reschedule();
  }

  /** A collection that starts after this call; resolves when it is over. */
  collect(): Promise<GcStats> {
    if (this.closed) return Promise.reject(new Error('garbage collector is closed'));
    const p = new Promise<GcStats>((resolve, reject) => this.waiters.push({ resolve, reject }));
    this.reschedule();
    return p;
  }

  /** Stops scheduling; waits for a collection in progress. Waiters are rejected. */
  async close(): Promise<void> {
    this.closed = true;
    this.disarm();
    await this.running;
    for (const w of this.waiters.splice(0)) w.reject(new Error('garbage collector is closed'));
  }

  /**
   * Pause-share interval after the last collection: the mean pause divided
   * by the threshold, less the pause itself (containerd's formula).
   */
  private interval(): number {
    if (this.pauseThreshold === 0 || this.collections === 0) return 0;
    const avg = this.pauseTotalMs / this.collections;
    return avg / this.pauseThreshold - avg;
  }

  /** When the next collection is due given what is pending; Infinity if none. */
  private due(): number {
    const now = this.clock.now();
    let due = this.requestedAt;
    if (this.waiters.length > 0) due = Math.min(due, now + this.scheduleDelayMs);
    if (this.deletions > 0) {
      let at = now + this.scheduleDelayMs;
      const overThreshold = this.deletionThreshold > 0 && this.deletions >= this.deletionThreshold;
      if (!overThreshold && this.lastEnd !== undefined) {
        at = Math.max(at, this.lastEnd + this.interval());
      }
      due = Math.min(due, Math.max(at, this.backoffUntil));
    }
    return due;
  }

  /** Arms the timer for what is pending; a run in progress reschedules when it ends. */
  private reschedule(): void {
    if (this.closed || this.running) return;
    const due = Math.min(this.due(), this.timerDue);
    const keepAlive = this.waiters.length > 0;
    if (due === Number.POSITIVE_INFINITY) return;
    if (due === this.timerDue && (this.timerKeepsAlive || !keepAlive)) return;
    this.disarm();
    this.timerDue = due;
    this.timerKeepsAlive = keepAlive;
    this.timer = this.clock.setTimeout(
      () => {
        this.timer = undefined;
        this.timerDue = Number.POSITIVE_INFINITY;
        this.start();
      },
      Math.max(due - this.clock.now(), 0),
      keepAlive,
    );
  }

  private disarm(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.timerDue = Number.POSITIVE_INFINITY;
  }

  private start(): void {
    if (this.closed || this.running) return;
    const waiters = this.waiters.splice(0);
    const deletions = this.deletions;
    this.deletions = 0;
    this.requestedAt = Number.POSITIVE_INFINITY;
    const run = async (): Promise<void> => {
      try {
        const stats = await this.opts.collect();
        this.collections++;
        this.pauseTotalMs += Number(stats.pauseNanos) / 1e6;
        this.lastEnd = this.clock.now();
        this.backoffUntil = 0;
        for (const w of waiters) w.resolve(stats);
      } catch (err) {
        this.opts.log.error({ err }, 'garbage collection failed');
        this.lastEnd = this.clock.now();
        // What the failed run was for is still pending: retried later.
        this.deletions += deletions;
        this.backoffUntil = this.lastEnd + this.interval() + FAILURE_BACKOFF_MS;
        this.requestedAt = Math.min(this.requestedAt, this.backoffUntil);
        for (const w of waiters) w.reject(err);
      }
    };
    this.running = run().finally(() => {
      this.running = undefined;
      this.reschedule();
    });
  }
}
