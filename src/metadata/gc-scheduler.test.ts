import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { GcStats } from '../core/gc/index.js';
import { nullLogger } from '../core/log/index.js';
import { CollectionScheduler, type SchedulerClock } from './gc-scheduler.js';

/** A clock whose time moves only when the test advances it. */
class FakeClock implements SchedulerClock {
  private t = 0;
  private timers = new Map<number, { at: number; fn: () => void }>();
  private next = 1;

  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.next++;
    this.timers.set(id, { at: this.t + ms, fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }
  get armed(): number {
    return this.timers.size;
  }
  /** Moves time on by `ms`, firing due timers in order and letting their work settle. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await settle();
      const due = [...this.timers].filter(([, x]) => x.at <= end).sort((a, b) => a[1].at - b[1].at);
      const first = due[0];
      if (!first) break;
      this.timers.delete(first[0]);
      this.t = Math.max(this.t, first[1].at);
      first[1].fn();
    }
    this.t = end;
    await settle();
  }
}

function settle(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

/**
 * A collector whose runs the test sees and finishes: each run waits until
 * the test calls `finish` unless `auto` is set.
 */
class FakeCollector {
  runs = 0;
  active = 0;
  maxActive = 0;
  auto = true;
  pauseMs = 1;
  failNext = false;
  private pending: (() => void)[] = [];

  collect = (): Promise<GcStats> => {
    this.runs++;
    this.active++;
    this.maxActive = Math.max(this.maxActive, this.active);
    const stats: GcStats = {
      removed: { run: this.runs },
      pauseNanos: BigInt(Math.round(this.pauseMs * 1e6)),
    };
    const done = <T>(v: T): T => {
      this.active--;
      return v;
    };
    if (this.failNext) {
      this.failNext = false;
      return Promise.reject(done(new Error(`run ${this.runs} failed`)));
    }
    if (this.auto) return Promise.resolve(done(stats));
    return new Promise<GcStats>((resolve) => {
      this.pending.push(() => resolve(done(stats)));
    });
  };

  finish(): void {
    const finish = this.pending.shift();
    assert.ok(finish, 'a run is in progress');
    finish();
  }
}

function setup(opts: { pauseThreshold?: number; deletionThreshold?: number } = {}) {
  const clock = new FakeClock();
  const c = new FakeCollector();
  const s = new CollectionScheduler({
    collect: c.collect,
    log: nullLogger,
    scheduleDelayMs: 10,
    clock,
    ...opts,
  });
  return { clock, c, s };
}

describe('CollectionScheduler', () => {
  it('collects once for a burst of deletions, after the schedule delay', async () => {
    const { clock, c, s } = setup();
    for (let i = 0; i < 5; i++) s.schedule();
    assert.equal(c.runs, 0, 'nothing runs before the delay');
    await clock.advance(10);
    assert.equal(c.runs, 1);
    await clock.advance(10_000);
    assert.equal(c.runs, 1, 'nothing pending: no further run');
    assert.equal(clock.armed, 0, 'no timer while idle');
    await s.close();
  });

  it('keeps scheduled collections within the pause share', async () => {
    // 10 ms pauses at 2 %: at most one scheduled run per 490 ms after a run.
    const { clock, c, s } = setup({ pauseThreshold: 0.02 });
    c.pauseMs = 10;
    s.schedule();
    await clock.advance(10);
    assert.equal(c.runs, 1);
    s.schedule();
    await clock.advance(100);
    assert.equal(c.runs, 1, 'the deletion waits for the bound');
    s.schedule();
    await clock.advance(400);
    assert.equal(c.runs, 2, 'both later deletions share the next run');
    await clock.advance(10_000);
    assert.equal(c.runs, 2);
    await s.close();
  });

  it('lets a pile of deletions past the pause bound once the deletion threshold is reached', async () => {
    const { clock, c, s } = setup({ pauseThreshold: 0.02, deletionThreshold: 3 });
    c.pauseMs = 10;
    s.schedule();
    await clock.advance(10);
    assert.equal(c.runs, 1);
    s.schedule();
    s.schedule();
    await clock.advance(20);
    assert.equal(c.runs, 1, 'below the threshold: the bound holds');
    s.schedule();
    await clock.advance(10);
    assert.equal(c.runs, 2, 'at the threshold: collected after the delay');
    await s.close();
  });

  it('serves collect() with a run that starts after the call, never overlapping runs', async () => {
    const { clock, c, s } = setup();
    c.auto = false;
    s.schedule();
    await clock.advance(10);
    assert.equal(c.runs, 1, 'a scheduled run is in progress');
    const served: GcStats[] = [];
    const waiting = s.collect().then((st) => served.push(st));
    s.schedule();
    await clock.advance(1000);
    assert.equal(c.runs, 1, 'no second run while the first is in progress');
    assert.equal(served.length, 0, 'the run in progress started before the call');
    c.finish();
    await clock.advance(10);
    assert.equal(c.runs, 2, 'one new run for the waiter and the deletion');
    c.finish();
    await waiting;
    assert.deepEqual(
      served.map((st) => st.removed),
      [{ run: 2 }],
    );
    assert.equal(c.maxActive, 1);
    await s.close();
  });

  it('runs collect() past the pause bound', async () => {
    const { clock, c, s } = setup({ pauseThreshold: 0.02 });
    c.pauseMs = 100;
    s.schedule();
    await clock.advance(10);
    const waiting = s.collect();
    await clock.advance(10);
    assert.equal(c.runs, 2);
    assert.deepEqual((await waiting).removed, { run: 2 });
    await s.close();
  });

  it('fails the waiters of a failed run and retries what it was for', async () => {
    const { clock, c, s } = setup();
    c.failNext = true;
    s.schedule();
    const waiting = assert.rejects(s.collect(), /run 1 failed/);
    await clock.advance(10);
    await waiting;
    assert.equal(c.runs, 1);
    await clock.advance(100);
    assert.equal(c.runs, 1, 'the retry waits for the back-off');
    await clock.advance(1000);
    assert.equal(c.runs, 2, 'the deletion is collected by the retry');
    await clock.advance(10_000);
    assert.equal(c.runs, 2);
    await s.close();
  });

  it('runs a requested collection at the requested time (the start-up run)', async () => {
    const { clock, c, s } = setup();
    s.scheduleIn(100);
    await clock.advance(50);
    assert.equal(c.runs, 0);
    s.schedule();
    await clock.advance(10);
    assert.equal(c.runs, 1, 'a deletion brings it forward');
    await clock.advance(1000);
    assert.equal(c.runs, 1, 'and the run served both');
    await s.close();
  });

  it('schedules nothing after close, and refuses to collect', async () => {
    const { clock, c, s } = setup();
    s.schedule();
    await s.close();
    s.schedule();
    await clock.advance(1000);
    assert.equal(c.runs, 0);
    await assert.rejects(s.collect(), /closed/);
  });

  it('rejects the waiters left at close', async () => {
    const { c, s } = setup();
    c.auto = false;
    const waiting = s.collect();
    const closing = s.close();
    await assert.rejects(waiting, /closed/);
    await closing;
    assert.equal(c.runs, 0);
  });
});
