/**
 * Flag values in docker's notations: durations (Go's time.ParseDuration),
 * memory sizes (go-units' RAMInBytes) and CPU counts (docker's NanoCPUs).
 */
import { invalidArgument } from '../../core/errdefs/index.js';

const DURATION_UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3, // U+00B5 micro sign
  μs: 1e-3, // U+03BC Greek mu
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/**
 * Go's time.ParseDuration in milliseconds: `10s`, `1m30s`, `1.5h`, `300ms`,
 * `-2m`, `0`. A number without a unit (other than 0) is an error, as in Go.
 */
export function parseDuration(s: string): number {
  const bad = (why: string) => invalidArgument(`invalid duration "${s}": ${why}`);
  let rest = s;
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    if (rest[0] === '-') sign = -1;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') throw bad('empty');
  let total = 0;
  const part = /^([0-9]*(?:\.[0-9]*)?)([^0-9.]*)/;
  while (rest !== '') {
    const m = part.exec(rest);
    const [whole = '', num = '', unit = ''] = m ?? [];
    if (num === '' || num === '.') throw bad('expected a number');
    if (unit === '') throw bad(`missing unit after ${num}`);
    const scale = DURATION_UNITS[unit];
    if (scale === undefined) throw bad(`unknown unit "${unit}"`);
    total += Number(num) * scale;
    rest = rest.slice(whole.length);
  }
  return sign * total;
}

const RAM_UNITS: Record<string, number> = {
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
  p: 1024 ** 5,
};

/**
 * go-units' RAMInBytes (for `--memory`): a number with an optional binary
 * suffix, case-insensitive: `b`, `k`/`kb`/`kib`, `m`, `g`, `t`, `p`; one
 * space may separate them. Fractions are truncated to whole bytes.
 */
export function parseBytes(s: string): number {
  let sep = -1;
  for (let i = s.length - 1; i >= 0; i--) {
    if (/[0-9. ]/.test(s[i] ?? '')) {
      sep = i;
      break;
    }
  }
  if (sep < 0) throw invalidArgument(`invalid size "${s}": no number`);
  const num = s[sep] === ' ' ? s.slice(0, sep) : s.slice(0, sep + 1);
  const suffix = s.slice(sep + 1).toLowerCase();
  if (!/^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$/.test(num))
    throw invalidArgument(`invalid size "${s}"`);
  let size = Number(num);
  if (size < 0) throw invalidArgument(`invalid size "${s}": negative`);
  if (suffix === '' || suffix === 'b') return Math.trunc(size);
  const mul = RAM_UNITS[suffix[0] ?? ''];
  if (
    mul === undefined ||
    suffix.length > 3 ||
    (suffix.length === 2 && suffix[1] !== 'b') ||
    (suffix.length === 3 && suffix.slice(1) !== 'ib')
  ) {
    throw invalidArgument(`invalid size "${s}": unknown suffix "${suffix}"`);
  }
  size *= mul;
  return Math.trunc(size);
}

/** CFS period docker sets for `--cpus`, in microseconds (100ms). */
export const CPU_PERIOD = 100_000;

export interface CpuLimit {
  /** CPUs in units of 1e-9 (docker's HostConfig.NanoCPUs). */
  nanoCpus: number;
  /** CFS quota in microseconds per {@link CPU_PERIOD}: nanoCpus × period / 1e9, as docker's daemon computes it. */
  quota: number;
  period: number;
}

const NANO = 1_000_000_000n;

/** A decimal (`1.5`, `.5`, `2e-1`) or a fraction (`3/2`), as Go's big.Rat reads it, as numerator and denominator. */
function rational(s: string): [bigint, bigint] | undefined {
  const frac = /^([+-]?[0-9]+)\/([0-9]+)$/.exec(s);
  if (frac) {
    const den = BigInt(frac[2] ?? '1');
    return den === 0n ? undefined : [BigInt(frac[1] ?? '0'), den];
  }
  const dec = /^([+-]?)([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?$/.exec(s);
  if (!dec) return undefined;
  const [, sign = '', int = '', fraction = '', exp = '0'] = dec;
  if (int === '' && fraction === '') return undefined;
  let num = BigInt(int + fraction || '0');
  let den = 10n ** BigInt(fraction.length);
  const e = Number(exp);
  if (e >= 0) num *= 10n ** BigInt(e);
  else den *= 10n ** BigInt(-e);
  return [sign === '-' ? -num : num, den];
}

/**
 * `--cpus` as docker reads it (opts.NanoCPUs): a rational number of CPUs
 * that must be a whole number of nano-CPUs; 0 means no limit.
 */
export function parseCpus(s: string): CpuLimit {
  const r = rational(s.trim());
  if (!r) throw invalidArgument(`invalid cpus "${s}": not a number`);
  const [num, den] = r;
  if (num < 0n) throw invalidArgument(`invalid cpus "${s}": negative`);
  if ((num * NANO) % den !== 0n)
    throw invalidArgument(`invalid cpus "${s}": more precise than 1e-9`);
  const nano = (num * NANO) / den;
  if (nano > BigInt(Number.MAX_SAFE_INTEGER))
    throw invalidArgument(`invalid cpus "${s}": too large`);
  return {
    nanoCpus: Number(nano),
    quota: Number((nano * BigInt(CPU_PERIOD)) / NANO),
    period: CPU_PERIOD,
  };
}
