import type { Timestamp } from '../api/google/protobuf/timestamp.js';

const NANOS_PER_SECOND = 1_000_000_000n;

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
