import { invalidArgument } from '../../core/errdefs/index.js';
import { goDuration } from '../../core/time/index.js';

const TIME =
  /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?)?(Z|z|[+-]\d{2}:\d{2})?$/;

/**
 * docker's `--since`/`--until` value (its timestamp.Parse): a Go duration
 * before `now` (`10m`, `1h30m`), an RFC3339 time or a prefix of one
 * (`2024-01-02`, `2024-01-02T15:04`, with or without a zone; without, local
 * time), or Unix seconds with an optional fraction (`1704067200.5`).
 */
export function parseSince(s: string, now: Date = new Date()): Date {
  const value = s.trim();
  if (value === '')
    throw invalidArgument('failed to parse value as time or duration: value is empty');
  const d = value === '0' ? undefined : goDuration(value);
  if (d !== undefined) return new Date(now.getTime() - d);

  const t = TIME.exec(value);
  if (t) {
    const [y, mo, da, h, mi, se] = t.slice(1, 7).map((x) => Number(x ?? 0)) as number[];
    const ms = Number(`${t[7] ?? ''}000`.slice(0, 3));
    const zone = t[8];
    const valid =
      (mo as number) >= 1 && (mo as number) <= 12 && (da as number) >= 1 && (da as number) <= 31;
    const inDay = (h as number) < 24 && (mi as number) < 60 && (se as number) < 60;
    if (!valid || !inDay)
      throw invalidArgument(`failed to parse value as time: ${JSON.stringify(s)}: out of range`);
    let when: number;
    if (zone === undefined) {
      when = new Date(y as number, (mo as number) - 1, da, h, mi, se, ms).getTime();
    } else {
      when = Date.UTC(y as number, (mo as number) - 1, da, h, mi, se, ms);
      if (zone !== 'Z' && zone !== 'z') {
        const sign = zone.startsWith('-') ? -1 : 1;
        when -= sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) * 60_000;
      }
    }
    if (!Number.isNaN(when)) return new Date(when);
  }
  if (value.includes('-'))
    throw invalidArgument(`failed to parse value as time or duration: ${JSON.stringify(s)}`);
  const u = /^(\d+)(?:\.(\d*))?$/.exec(value);
  if (!u) throw invalidArgument(`failed to parse value as time or duration: ${JSON.stringify(s)}`);
  return new Date(Number(u[1]) * 1000 + Number(`${u[2] ?? ''}000`.slice(0, 3)));
}
