/**
 * Numbers, times and ids as docker prints them (docker/go-units and
 * moby's stringid): `humanDuration` is units.HumanDuration, `humanSize`
 * units.HumanSizeWithPrecision(…, 3) (decimal, `docker images`),
 * `bytesSize` units.BytesSize (binary, `docker stats`).
 */
import { goSprintf } from './go-fmt.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/** units.HumanDuration: "Less than a second", "5 seconds", "About a minute", …, "2 years". */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / SECOND);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.trunc(ms / MINUTE);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.trunc(ms / HOUR + 0.5);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.trunc(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.trunc(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24 / 30)} months`;
  return `${Math.trunc(Math.trunc(ms / HOUR) / 24 / 365)} years`;
}

/** `docker ps`'s CREATED: "3 minutes ago". */
export function timeAgo(date: Date, now: Date = new Date()): string {
  return `${humanDuration(now.getTime() - date.getTime())} ago`;
}

/** What statusText needs of a container. */
export interface ContainerStatus {
  state:
    | 'created'
    | 'running'
    | 'paused'
    | 'restarting'
    | 'exited'
    | 'removing'
    | 'dead'
    | 'unknown';
  startedAt?: Date;
  finishedAt?: Date;
  exitCode?: number;
}

/** "Up 3 minutes". */
export function upText(startedAt: Date, now: Date = new Date()): string {
  return `Up ${humanDuration(now.getTime() - startedAt.getTime())}`;
}

/** "Exited (0) 2 seconds ago". */
export function exitedText(exitCode: number, finishedAt: Date, now: Date = new Date()): string {
  return `Exited (${exitCode}) ${timeAgo(finishedAt, now)}`;
}

/**
 * docker's container status (its State.String()): `Up 3 minutes`,
 * `Up 3 minutes (Paused)`, `Restarting (1) 5 seconds ago`,
 * `Exited (0) 2 seconds ago`, `Created`, `Removal In Progress`, `Dead`.
 * A container that never started is `Created`; a state without the times
 * it needs shows the state's name.
 */
export function statusText(s: ContainerStatus, now: Date = new Date()): string {
  switch (s.state) {
    case 'running':
      return s.startedAt ? upText(s.startedAt, now) : 'Up';
    case 'paused':
      return s.startedAt ? `${upText(s.startedAt, now)} (Paused)` : 'Paused';
    case 'restarting':
      return s.finishedAt
        ? `Restarting (${s.exitCode ?? 0}) ${timeAgo(s.finishedAt, now)}`
        : `Restarting (${s.exitCode ?? 0})`;
    case 'removing':
      return 'Removal In Progress';
    case 'dead':
      return 'Dead';
    case 'created':
      return 'Created';
    case 'exited':
      if (!s.startedAt && !s.finishedAt) return 'Created';
      return s.finishedAt
        ? exitedText(s.exitCode ?? 0, s.finishedAt, now)
        : `Exited (${s.exitCode ?? 0})`;
    default:
      return 'Unknown';
  }
}

const DECIMAL = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'];
const BINARY = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB', 'ZiB', 'YiB'];

function sizeAndUnit(size: number, base: number, units: string[]): [number, string] {
  let i = 0;
  while (size >= base && i < units.length - 1) {
    size /= base;
    i++;
  }
  return [size, units[i] ?? 'B'];
}

/** units.HumanSizeWithPrecision(bytes, 3): "1.23MB", "562kB", "0B". */
export function humanSize(bytes: number, precision = 3): string {
  const [size, unit] = sizeAndUnit(bytes, 1000, DECIMAL);
  return goSprintf(`%.${precision}g%s`, [size, unit]);
}

/** units.BytesSize: "1.5GiB", "100MiB" (`docker stats` memory). */
export function bytesSize(bytes: number): string {
  const [size, unit] = sizeAndUnit(bytes, 1024, BINARY);
  return goSprintf('%.4g%s', [size, unit]);
}

/** stringid.TruncateID: an id (or `algorithm:hex` digest) as its first 12 characters, without the algorithm. */
export function truncateId(id: string): string {
  const colon = id.indexOf(':');
  const hex = colon >= 0 ? id.slice(colon + 1) : id;
  return hex.slice(0, 12);
}

/** A digest as docker shows image and layer ids (`IMAGE ID`, pull progress): 12 hex characters. */
export function shortDigest(digest: string): string {
  return truncateId(digest);
}

function zoneName(date: Date, offsetMin: number): string {
  // Intl knows the abbreviations Go prints from tzdata in some English locales only ("CET" in en-GB, "IST" in en-IN).
  for (const locale of ['en-US', 'en-GB', 'en-IN']) {
    const name = new Intl.DateTimeFormat(locale, { timeZoneName: 'short' })
      .formatToParts(date)
      .find((p) => p.type === 'timeZoneName')?.value;
    if (name && /^[A-Z]{3,5}$/.test(name)) return name;
  }
  if (offsetMin === 0) return 'UTC';
  // Go prints a zone without an abbreviation as its offset: "+01", "+0530".
  const abs = Math.abs(offsetMin);
  const hm =
    String(Math.trunc(abs / 60)).padStart(2, '0') +
    (abs % 60 ? String(abs % 60).padStart(2, '0') : '');
  return `${offsetMin < 0 ? '-' : '+'}${hm}`;
}

/**
 * Go's Time.String in the local zone, as docker prints `CreatedAt`:
 * "2026-01-02 15:04:05 +0000 UTC" (fractional seconds only when not zero).
 */
export function goTimeString(date: Date): string {
  const p2 = (n: number) => String(n).padStart(2, '0');
  const offset = -date.getTimezoneOffset();
  const abs = Math.abs(offset);
  const ms = date.getMilliseconds();
  const frac = ms ? `.${String(ms).padStart(3, '0').replace(/0+$/, '')}` : '';
  return (
    `${date.getFullYear()}-${p2(date.getMonth() + 1)}-${p2(date.getDate())} ` +
    `${p2(date.getHours())}:${p2(date.getMinutes())}:${p2(date.getSeconds())}${frac} ` +
    `${offset < 0 ? '-' : '+'}${p2(Math.trunc(abs / 60))}${p2(abs % 60)} ${zoneName(date, offset)}`
  );
}
