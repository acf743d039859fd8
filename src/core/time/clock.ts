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
/** An anchor edge seen within this many ns of the previous reading is trusted. */
const MAX_EDGE_SPAN_NS = 20_000n;
/** At most this many edges (ms) are tried for a tight one; the tightest seen is taken. */
const MAX_ANCHOR_EDGES = 10;

/**
 * The system's clocks. An anchor waits for `Date.now()` to tick over to the
 * next millisecond and pairs that edge with the monotonic clock read around
 * it: accurate to the loop's turn (well under a microsecond unless the
 * process is preempted right then, when it tries the next edge, up to ten),
 * at a cost of two milliseconds or so, paid on the first reading and after
 * the clock was set. (`performance.timeOrigin` is no
 * anchor: on Node 20 it is milliseconds off `performance.now()`'s origin.)
 */
export function systemClockSource(): ClockSource {
  return {
    monotonic: () => process.hrtime.bigint(),
    wallMillis: () => Date.now(),
    anchor: () => {
      let best: { wall: bigint; mono: bigint; span: bigint } | undefined;
      // A few edges: the first warms the loop up, and an edge seen across a
      // preemption (a long step) is not trusted when a tighter one follows.
      for (let edges = 0; edges < MAX_ANCHOR_EDGES; edges++) {
        // Each turn reads the monotonic clock before and after Date.now().
        // The tick falls after the previous turn's Date.now() and at or
        // before this one's: inside (previous before, this after), whatever
        // preemption came between the readings.
        let prevBefore = process.hrtime.bigint();
        const start = Date.now();
        let before = prevBefore;
        let after = prevBefore;
        let ms = start;
        while (ms === start) {
          prevBefore = before;
          before = process.hrtime.bigint();
          ms = Date.now();
          after = process.hrtime.bigint();
        }
        const span = after - prevBefore;
        if (best === undefined || span < best.span) {
          best = { wall: BigInt(ms) * NS_PER_MS, mono: prevBefore + span / 2n, span };
        }
        if (edges > 0 && span < MAX_EDGE_SPAN_NS) break;
      }
      const { wall, mono } = best as { wall: bigint; mono: bigint };
      return { wall, mono };
    },
  };
}

/**
 * Wall-clock time with nanosecond resolution, as Go's `time.Now()` gives
 * containerd: `Date.now()` has only milliseconds, so a record stamped with it
 * can fall before the time a client read just before its call. This anchors
 * the monotonic clock to the wall clock on first use and reads wall time as
 * anchor + elapsed. Successive readings strictly increase; when the wall clock is set
 * (the reading strays more than a few ms from `Date.now()`) it re-anchors
 * and follows the new wall time, backwards too, as `time.Now()` would.
 */
export function wallClock(source: ClockSource = systemClockSource()): Clock {
  let anchorWall = 0n;
  let anchorMono: bigint | undefined;
  let last = 0n;
  return () => {
    if (anchorMono === undefined) ({ wall: anchorWall, mono: anchorMono } = source.anchor());
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
