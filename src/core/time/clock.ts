/** Nanoseconds since the epoch. */
export type Clock = () => bigint;

/** Where a wall clock reads time; injectable for tests. */
export interface ClockSource {
  /** A monotonic reading in nanoseconds (`process.hrtime.bigint()`). */
  monotonic(): bigint;
  /** The wall clock in whole milliseconds (`Date.now()`). */
  wallMillis(): number;
  /** A precise wall-clock reading (ns) and the monotonic reading taken with it. */
  anchor(): { wall: bigint; mono: bigint };
}

const NS_PER_MS = 1_000_000n;
/**
 * How far the anchored reading may stray from `Date.now()` (beyond the
 * millisecond `Date.now()` truncates) before it counts as a clock set. Both
 * clocks follow NTP's frequency corrections alike; only steps (and suspend)
 * separate them.
 */
const MAX_DRIFT_NS = 5_000_000n;

/**
 * The system's clocks. The first anchor is the process's time origin
 * (gettimeofday in microseconds at startup, paired with the monotonic clock);
 * later anchors wait for `Date.now()` to tick over to the next millisecond
 * and take that edge, accurate to the loop's turn (under a microsecond), at
 * a cost of at most a millisecond, paid only after the clock was set.
 */
export function systemClockSource(): ClockSource {
  let first = true;
  return {
    monotonic: () => process.hrtime.bigint(),
    wallMillis: () => Date.now(),
    anchor: () => {
      if (first) {
        first = false;
        const mono = process.hrtime.bigint();
        const sinceOrigin = performance.now(); // ms since timeOrigin, same instant
        const originMicros = BigInt(Math.round(performance.timeOrigin * 1000));
        return {
          wall: originMicros * 1000n + BigInt(Math.round(sinceOrigin * 1e6)),
          mono,
        };
      }
      const start = Date.now();
      let ms = start;
      while (ms === start) ms = Date.now();
      return { wall: BigInt(ms) * NS_PER_MS, mono: process.hrtime.bigint() };
    },
  };
}

/**
 * Wall-clock time with nanosecond resolution, as Go's `time.Now()` gives
 * containerd: `Date.now()` has only milliseconds, so a record stamped with it
 * can fall before the time a client read just before its call. This anchors
 * the monotonic clock to the wall clock once and reads wall time as anchor +
 * elapsed. Successive readings strictly increase; when the wall clock is set
 * (the reading strays more than a few ms from `Date.now()`) it re-anchors
 * and follows the new wall time, backwards too, as `time.Now()` would.
 */
export function wallClock(source: ClockSource = systemClockSource()): Clock {
  let { wall: anchorWall, mono: anchorMono } = source.anchor();
  let last = 0n;
  return () => {
    let now = anchorWall + (source.monotonic() - anchorMono);
    const drift = now - BigInt(source.wallMillis()) * NS_PER_MS;
    if (drift < -MAX_DRIFT_NS || drift > NS_PER_MS + MAX_DRIFT_NS) {
      ({ wall: anchorWall, mono: anchorMono } = source.anchor());
      now = anchorWall + (source.monotonic() - anchorMono);
      last = now;
      return now;
    }
    last = now > last ? now : last + 1n;
    return last;
  };
}
