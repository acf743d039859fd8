import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ClockSource, wallClock } from './clock.js';
import { nowNanos } from './index.js';

const MS = 1_000_000n;

/** A source whose clocks the test sets; anchor() reads the wall clock as set. */
function fakeSource(start: bigint): ClockSource & { wall: bigint; mono: bigint; anchors: number } {
  const s = {
    wall: start,
    mono: 1_000n,
    anchors: 0,
    monotonic: () => s.mono,
    wallMillis: () => Number(s.wall / MS),
    anchor: () => {
      s.anchors++;
      return { wall: s.wall, mono: s.mono };
    },
  };
  return s;
}

describe('wallClock', () => {
  it('strictly increases, has sub-millisecond precision and stays near Date.now()', () => {
    const readings: bigint[] = [];
    for (let i = 0; i < 10_000; i++) readings.push(nowNanos());
    for (let i = 1; i < readings.length; i++) {
      assert.ok(readings[i]! > readings[i - 1]!, `reading ${i} did not increase`);
    }
    // Milliseconds × 10⁶ would end in six zeros every time.
    assert.ok(
      readings.some((t) => t % MS !== 0n),
      'no sub-millisecond digits',
    );
  });

  it('reads the wall clock: at the instant Date.now() ticks, it reads that millisecond', () => {
    // Ahead of the wall clock, a record could be stamped after the time the
    // client reads once it has the answer; behind, before the time it read
    // before its call. At a millisecond edge the true time is known; the
    // smallest difference over a few edges leaves out preemption.
    const offsets: number[] = [];
    for (let i = 0; i < 20; i++) {
      const start = Date.now();
      let ms = start;
      while (ms === start) ms = Date.now();
      offsets.push(Number(nowNanos() - BigInt(ms) * MS) / 1000);
    }
    const us = Math.min(...offsets);
    assert.ok(us > -200 && us < 500, `the clock is ${us} µs off the wall clock at its edges`);
  });

  it('follows the monotonic clock between anchors, and steps when it does not move', () => {
    const src = fakeSource(1_700_000_000_000n * MS);
    const clock = wallClock(src);
    const t0 = clock();
    assert.equal(t0, 1_700_000_000_000n * MS);
    src.mono += 1234n;
    src.wall += 1234n;
    assert.equal(clock(), t0 + 1234n);
    assert.equal(clock(), t0 + 1235n, 'the same monotonic reading gives a later time');
    assert.equal(src.anchors, 1);
  });

  it('re-anchors when the wall clock is set, forwards or backwards', () => {
    const src = fakeSource(1_700_000_000_000n * MS);
    const clock = wallClock(src);
    clock();
    src.wall += 3600n * 1000n * MS; // set forward an hour
    src.mono += 10n;
    assert.equal(clock(), src.wall);
    assert.equal(src.anchors, 2);
    src.wall -= 7200n * 1000n * MS; // and back two
    src.mono += 10n;
    assert.equal(clock(), src.wall, 'a clock set backwards is followed, as time.Now() would');
    assert.equal(src.anchors, 3);
    src.mono += 500n;
    src.wall += 500n;
    assert.equal(clock(), src.wall);
    assert.equal(src.anchors, 3);
  });
});
