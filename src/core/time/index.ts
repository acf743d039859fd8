/** Wall-clock time in nanoseconds since the epoch (millisecond resolution), as containerd stores timestamps. */
export function nowNanos(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}
