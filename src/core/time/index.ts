export { type Clock, type ClockSource, systemClockSource, wallClock } from './clock.js';
export { goDuration, parseGoDuration } from './duration.js';

import { type Clock, wallClock } from './clock.js';

/**
 * Wall-clock time in nanoseconds since the epoch, as containerd stores
 * timestamps: nanosecond resolution, strictly increasing within the process
 * (one clock for every record and event; see wallClock). Conversions to and
 * from google.protobuf.Timestamp are in src/wire/timestamp.ts.
 */
export const nowNanos: Clock = wallClock();
