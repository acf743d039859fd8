/**
 * Ingest timestamps (`startedat`, `updatedat`) as containerd writes them: Go's
 * `time.Time.MarshalText`, i.e. RFC 3339 with up to nine fraction digits
 * (`2024-05-01T10:00:00.123456789Z`, or with a `+02:00` offset). We write UTC
 * with all nine digits and read any offset, so ingests created by containerd
 * and by berth read the same. In the API, times are bigint nanoseconds since
 * the epoch.
 */

const NS_PER_MS = 1_000_000n;
const NS_PER_S = 1_000_000_000n;

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/** Formats nanoseconds since the epoch as RFC 3339 UTC with nine fraction digits. */
export function formatTimestamp(ns: bigint): string {
  let seconds = ns / NS_PER_S;
  let fraction = ns % NS_PER_S;
  if (fraction < 0n) {
    fraction += NS_PER_S;
    seconds -= 1n;
  }
  const iso = new Date(Number(seconds) * 1000).toISOString(); // YYYY-MM-DDTHH:MM:SS.000Z
  return `${iso.slice(0, 19)}.${fraction.toString().padStart(9, '0')}Z`;
}

/** Parses an RFC 3339 timestamp to nanoseconds; undefined if it is not one. */
export function parseTimestamp(text: string): bigint | undefined {
  const m = RFC3339.exec(text.trim());
  if (m === null) {
    return undefined;
  }
  const [, year, month, day, hour, minute, second, fraction, , sign, offH, offM] = m;
  const ms = Date.UTC(
    Number(year),
    Number(month) - 1,
    Number(day),
    Number(hour),
    Number(minute),
    Number(second),
  );
  if (Number.isNaN(ms)) {
    return undefined;
  }
  let ns = BigInt(ms) * NS_PER_MS + BigInt((fraction ?? '').padEnd(9, '0') || '0');
  if (sign !== undefined) {
    const offset = (BigInt(Number(offH)) * 60n + BigInt(Number(offM))) * 60n * NS_PER_S;
    ns = sign === '+' ? ns - offset : ns + offset;
  }
  return ns;
}
