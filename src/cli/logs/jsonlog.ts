/**
 * docker's json-file log format: one JSON object per line,
 * `{"log":"<text incl. \n>","stream":"stdout|stderr","time":"<RFC3339Nano UTC>"}`.
 * A line longer than {@link MAX_LINE} bytes is written as several entries; all
 * but the last lack the trailing `\n` (docker's partial messages).
 *
 * Imported by the logger entry: node builtins only.
 */

export type LogStream = 'stdout' | 'stderr';

/** docker's copier buffer: longer lines are split into partial entries of this many bytes. */
export const MAX_LINE = 16 * 1024;

/** The json log of container `id` in `dir`: docker's `<id>-json.log`. */
export function jsonLogPath(dir: string, id: string): string {
  return `${dir.replace(/\/+$/, '')}/${id}-json.log`;
}

// Go's encoding/json (and docker's writer) escape these for HTML safety; JSON.stringify does not.
const GO_ESCAPES: Record<string, string> = {
  '<': '\\u003c',
  '>': '\\u003e',
  '&': '\\u0026',
  '\u2028': '\\u2028',
  '\u2029': '\\u2029',
};

/** One entry, newline-terminated, as docker's json-file writes it. */
export function encodeEntry(stream: LogStream, text: Uint8Array, timeNs: bigint): Buffer {
  const log = JSON.stringify(
    Buffer.from(text.buffer, text.byteOffset, text.byteLength).toString('utf8'),
  ).replace(/[<>&\u2028\u2029]/g, (c) => GO_ESCAPES[c] ?? c);
  return Buffer.from(`{"log":${log},"stream":"${stream}","time":"${formatRFC3339Nano(timeNs)}"}\n`);
}

export interface LogEntry {
  log: string;
  stream: LogStream;
  /** Nanoseconds since the Unix epoch. */
  timeNs: bigint;
}

/** Parses one line of a json log; undefined for a line that is not an entry (torn write, foreign data). */
export function decodeEntry(line: string | Buffer): LogEntry | undefined {
  let v: unknown;
  try {
    v = JSON.parse(typeof line === 'string' ? line : line.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const { log, stream, time } = v as Record<string, unknown>;
  if (
    typeof log !== 'string' ||
    (stream !== 'stdout' && stream !== 'stderr') ||
    typeof time !== 'string'
  ) {
    return undefined;
  }
  const timeNs = parseRFC3339Nano(time);
  if (timeNs === undefined) return undefined;
  return { log, stream, timeNs };
}

const NS_PER_S = 1_000_000_000n;

function wholeSeconds(ns: bigint): string {
  return new Date(Number(ns / NS_PER_S) * 1000).toISOString().slice(0, 19);
}

/** Go's time.RFC3339Nano in UTC: trailing zeros of the fraction trimmed, no fraction when zero. */
export function formatRFC3339Nano(ns: bigint): string {
  const frac = (ns % NS_PER_S).toString().padStart(9, '0').replace(/0+$/, '');
  return `${wholeSeconds(ns)}${frac === '' ? '' : `.${frac}`}Z`;
}

/** docker's RFC3339NanoFixed in UTC (`docker logs -t`): always nine fraction digits. */
export function formatRFC3339NanoFixed(ns: bigint): string {
  return `${wholeSeconds(ns)}.${(ns % NS_PER_S).toString().padStart(9, '0')}Z`;
}

const RFC3339 = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;

/** Parses an RFC3339 time with up to nine fraction digits into nanoseconds since the epoch. */
export function parseRFC3339Nano(s: string): bigint | undefined {
  const m = RFC3339.exec(s);
  if (!m) return undefined;
  const ms = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(ms)) return undefined;
  return BigInt(ms) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'));
}
