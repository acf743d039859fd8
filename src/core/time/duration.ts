import { invalidArgument } from '../errdefs/index.js';

/**
 * A Go duration (`4h0m0s`, `30s`, `1.5h`, `300ms`) in milliseconds;
 * `invalid_argument` naming `what` for anything else.
 */
export function parseGoDuration(s: string, what: string): number {
  const units: Record<string, number> = {
    ns: 1e-6,
    us: 1e-3,
    µs: 1e-3,
    ms: 1,
    s: 1000,
    m: 60_000,
    h: 3_600_000,
  };
  if (s === '0') return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let matched = 0;
  for (let m = re.exec(s); m !== null; m = re.exec(s)) {
    total += Number(m[1]) * (units[m[2] as string] as number);
    matched = re.lastIndex;
  }
  if (s === '' || matched !== s.length) {
    throw invalidArgument(`${what}: invalid duration ${JSON.stringify(s)}`);
  }
  return total;
}
