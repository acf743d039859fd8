import { type Clock, wallClock } from './clock.js';

/** google.protobuf.Timestamp's shape, without importing generated code. */
export interface Timestamp {
  seconds: bigint;
  nanos: number;
}

const NANOS_PER_SECOND = 1_000_000_000n;

export { type Clock, type ClockSource, systemClockSource, wallClock } from './clock.js';

/**
 * Wall-clock time in nanoseconds since the epoch, as containerd stores
 * timestamps: nanosecond resolution, strictly increasing within the process
 * (one clock for every record and event; see wallClock).
 */
export const nowNanos: Clock = wallClock();

/**
 * Nanoseconds since the epoch (the domain's times) as a
 * google.protobuf.Timestamp. Negative times keep `nanos` non-negative, as
 * the Timestamp contract requires.
 */
export function toTimestamp(nanos: bigint): Timestamp {
  let seconds = nanos / NANOS_PER_SECOND;
  let rest = nanos % NANOS_PER_SECOND;
  if (rest < 0n) {
    seconds -= 1n;
    rest += NANOS_PER_SECOND;
  }
  return { seconds, nanos: Number(rest) };
}

/** A google.protobuf.Timestamp as nanoseconds since the epoch; absent reads as 0. */
export function fromTimestamp(ts: Timestamp | undefined): bigint {
  if (ts === undefined) return 0n;
  return ts.seconds * NANOS_PER_SECOND + BigInt(ts.nanos);
}
