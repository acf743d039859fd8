import { type Clock, nowNanos } from '../core/time/index.js';

export type { Clock } from '../core/time/index.js';

/**
 * The clock events are stamped with: the process's one wall clock
 * (`src/core/time`), so events and the records they describe are ordered
 * alike, with nanosecond resolution.
 */
export function wallClock(): Clock {
  return nowNanos;
}
