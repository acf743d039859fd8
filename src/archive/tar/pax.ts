/**
 * @module
 * PAX extended header records (`"%d %s=%s\n"`, the length counting the whole
 * record) and PAX times. Values are raw bytes: `SCHILY.xattr.*` values are
 * binary (file capabilities have bytes ≥ 0x80) and must never pass through a
 * text decoding. Keys are UTF-8.
 */
import { isUtf8 } from 'node:buffer';
import type { TarTime } from './header.js';

/** Keys whose values name files or users: a NUL in them is refused, as Go does. */
const NAME_KEYS = new Set(['path', 'linkpath', 'uname', 'gname']);

/** The most digits a record length may have (lengths beyond 1e9 are absurd). */
const MAX_LENGTH_DIGITS = 9;

/**
 * Parses the records of one extended header. Throws an `Error` naming the
 * problem (the caller adds where): malformed framing, an empty, non-UTF-8 or
 * NUL-bearing key, a NUL in a name value, or a key given twice (readers
 * disagree on which copy wins, so an archive that relies on it is refused).
 */
export function parsePaxRecords(data: Buffer): Map<string, Buffer> {
  const records = new Map<string, Buffer>();
  let pos = 0;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    if (space <= pos || space - pos > MAX_LENGTH_DIGITS) {
      throw new Error(`malformed PAX record at byte ${pos}: no length`);
    }
    let length = 0;
    for (let i = pos; i < space; i++) {
      const c = data[i]!;
      if (c < 0x30 || c > 0x39) throw new Error(`malformed PAX record at byte ${pos}: bad length`);
      length = length * 10 + (c - 0x30);
    }
    const end = pos + length;
    if (end > data.length || end <= space + 1 || data[end - 1] !== 0x0a) {
      throw new Error(`malformed PAX record at byte ${pos}: length ${length} does not fit`);
    }
    const eq = data.indexOf(0x3d, space + 1);
    if (eq < 0 || eq >= end - 1) {
      throw new Error(`malformed PAX record at byte ${pos}: no "="`);
    }
    const rawKey = data.subarray(space + 1, eq);
    if (rawKey.length === 0 || !isUtf8(rawKey) || rawKey.includes(0)) {
      throw new Error(`malformed PAX record at byte ${pos}: invalid key`);
    }
    const key = rawKey.toString('utf8');
    const value = Buffer.from(data.subarray(eq + 1, end - 1)); // a copy: callers may keep it
    if (NAME_KEYS.has(key) && value.includes(0)) {
      throw new Error(`PAX record "${key}" contains a NUL byte`);
    }
    if (records.has(key)) throw new Error(`PAX record "${key}" appears twice`);
    records.set(key, value);
    pos = end;
  }
  return records;
}

/** Encodes records in the order given (callers sort them for determinism). */
export function formatPaxRecords(records: Iterable<readonly [string, Buffer]>): Buffer {
  const parts: Buffer[] = [];
  for (const [key, value] of records) {
    const body = Buffer.byteLength(key) + value.length + 3; // ' ', '=', '\n'
    // The length counts its own digits: grow until it is self-consistent.
    const digits = String(body).length;
    let length = body + digits;
    if (String(length).length > digits) length++;
    parts.push(Buffer.from(`${length} ${key}=`, 'utf8'), value, Buffer.from('\n'));
  }
  return Buffer.concat(parts);
}

const TIME = /^(-?)(\d{1,15})(?:\.(\d+))?$/;

/** Parses a PAX time (`"1700000000.123456789"`, `"-1.5"`); undefined if malformed. */
export function parsePaxTime(value: Buffer): TarTime | undefined {
  const m = TIME.exec(value.toString('latin1'));
  if (!m) return undefined;
  const whole = Number(m[2]);
  const frac = m[3] ?? '';
  const nsec = Number(frac.slice(0, 9).padEnd(9, '0'));
  if (m[1] !== '-') return { sec: whole, nsec };
  return nsec === 0 ? { sec: -whole, nsec: 0 } : { sec: -whole - 1, nsec: 1e9 - nsec };
}

/** Formats a time as PAX does: trailing zeros of the fraction dropped, negative times signed. */
export function formatPaxTime({ sec, nsec }: TarTime): string {
  if (nsec === 0) return String(sec);
  let sign = '';
  let s = sec;
  let ns = nsec;
  if (sec < 0) {
    sign = '-';
    s = -(sec + 1);
    ns = 1e9 - nsec;
  }
  return `${sign}${s}.${String(ns).padStart(9, '0')}`.replace(/0+$/, '');
}

/** Parses a PAX decimal (size, uid, gid): digits only, a safe integer; undefined otherwise. */
export function parsePaxDecimal(value: Buffer): number | undefined {
  const s = value.toString('latin1');
  if (!/^\d{1,16}$/.test(s)) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : undefined;
}
