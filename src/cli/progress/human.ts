/**
 * Sizes, rates and durations as docker prints them: decimal units (`kB`,
 * `MB`, `GB`, 1000 apart) with 3 significant digits, trailing zeros dropped.
 */

const UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB'];

/** `512 B`, `3.2 kB`, `12.3 MB`, `1 GB`. Negative or non-finite sizes print as `0 B`. */
export function humanSize(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes <= 0) return '0 B';
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < UNITS.length - 1) {
    value /= 1000;
    unit++;
  }
  if (unit === 0) return `${Math.round(value)} B`;
  let digits = Number(value.toPrecision(3));
  // 999.95 kB rounds to 1000 kB: that is 1 MB.
  if (digits >= 1000 && unit < UNITS.length - 1) {
    digits = Number((digits / 1000).toPrecision(3));
    unit++;
  }
  return `${digits} ${UNITS[unit]}`;
}

/** Bytes per second: `10.1 MB/s`. */
export function humanRate(bytesPerSecond: number): string {
  return `${humanSize(bytesPerSecond)}/s`;
}

/** `850 ms`, `1.2 s`, `42 s`, `2m03s`, `1h02m`. */
export function humanDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) ms = 0;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 10) return `${Number(s.toFixed(1))} s`;
  if (s < 60) return `${Math.floor(s)} s`;
  const total = Math.floor(s);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const sec = total % 60;
  if (h > 0) return `${h}h${String(m).padStart(2, '0')}m`;
  return `${m}m${String(sec).padStart(2, '0')}s`;
}

/** The bytes per second of `bytes` moved in `ms` (0 before any time has passed). */
export function rateOf(bytes: number, ms: number): number {
  return ms > 0 ? (bytes * 1000) / ms : 0;
}
