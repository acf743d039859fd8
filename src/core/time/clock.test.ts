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
    const wall = BigInt(Date.now()) * MS;
    const t = nowNanos();
    // Date.now() truncates to the millisecond: t is at most ~1 ms ahead of it.
    assert.ok(t >= wall - 5n * MS && t <= wall + 6n * MS, `${t} is far from Date.now() ${wall}`);
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
