/** Nanoseconds since the epoch. */
export type Clock = () => bigint;

const NS_PER_MS = 1_000_000n;
/** How far the monotonic reading may drift from the wall clock before re-anchoring. */
const MAX_DRIFT_NS = 1_000_000_000n;

/**
 * Wall-clock time with nanosecond resolution: `Date.now()` only has
 * milliseconds, so this anchors the monotonic `process.hrtime` to the wall
 * clock and re-anchors when the two drift more than a second apart (the
 * system clock was set). Events published in order get non-decreasing
 * timestamps, except across such a jump.
 */
export function wallClock(): Clock {
  let wallAnchor = BigInt(Date.now()) * NS_PER_MS;
  let monoAnchor = process.hrtime.bigint();
  return () => {
    const wall = BigInt(Date.now()) * NS_PER_MS;
    const now = wallAnchor + (process.hrtime.bigint() - monoAnchor);
    const drift = now - wall;
    if (drift > MAX_DRIFT_NS || drift < -MAX_DRIFT_NS) {
      wallAnchor = wall;
      monoAnchor = process.hrtime.bigint();
      return wall;
    }
    return now;
  };
}
