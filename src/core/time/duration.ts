import { invalidArgument } from '../errdefs/index.js';

/** Nanoseconds per unit of Go's time.ParseDuration (both micro signs, as Go takes them). */
const UNIT_NS: Readonly<Record<string, number>> = {
  ns: 1,
  us: 1e3,
  µs: 1e3,
  μs: 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/**
 * Go's time.ParseDuration (`300ms`, `-1.5h`, `1h30m`, `0`) in milliseconds;
 * undefined when `s` is not a duration.
 */
export function goDuration(s: string): number | undefined {
  const m = /^([-+]?)(.+)$/.exec(s);
  if (!m) return undefined;
  const body = m[2] as string;
  if (body === '0') return 0;
  const part = /(\d*\.?\d*)([a-zµμ]+)/gy;
  let ns = 0;
  let at = 0;
  for (let p = part.exec(body); p; p = part.exec(body)) {
    const num = p[1] as string;
    const unit = UNIT_NS[p[2] as string];
    if (num === '' || num === '.' || unit === undefined) return undefined;
    ns += Number(num) * unit;
    at = part.lastIndex;
  }
  if (at !== body.length || at === 0) return undefined;
  return ((m[1] === '-' ? -1 : 1) * ns) / 1e6;
}

/**
 * A Go duration without a sign (`4h0m0s`, `30s`, `1.5h`, `300ms`) in
 * milliseconds, as config files give them; `invalid_argument` naming `what`
 * for anything else.
 */
export function parseGoDuration(s: string, what: string): number {
  const ms = /^[-+]/.test(s) ? undefined : goDuration(s);
  if (ms === undefined) throw invalidArgument(`${what}: invalid duration ${JSON.stringify(s)}`);
  return ms;
}
