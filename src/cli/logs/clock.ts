/**
 * Wall-clock time in nanoseconds for log entries: Date has milliseconds only,
 * so the monotonic clock supplies the digits below, anchored to the wall clock
 * and re-anchored when the two drift apart by more than a second (clock steps).
 *
 * Imported by the logger entry: node builtins only.
 */

let anchor = anchorNow();

function anchorNow(): bigint {
  return BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();
}

export function nowNs(): bigint {
  const ns = process.hrtime.bigint() + anchor;
  if (Math.abs(Number(ns / 1_000_000n) - Date.now()) > 1000) {
    anchor = anchorNow();
    return process.hrtime.bigint() + anchor;
  }
  return ns;
}
