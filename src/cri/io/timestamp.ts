/**
 * Go's `time.RFC3339Nano` layout of a wall-clock time, in the machine's
 * local zone as containerd's CRI logger writes it: the fraction of a second
 * has its trailing zeros removed (none at all for a whole second), and the
 * zone is `Z` for UTC or `±hh:mm`.
 *
 * `2026-12-05T15:23:35.0418Z`, `2026-12-05T16:23:35+01:00`
 */
export function formatRFC3339Nano(nanos: bigint): string {
  const ms = Number(nanos / 1_000_000n);
  const frac = Number(nanos % 1_000_000_000n);
  const date = new Date(ms);
  const offsetMin = -date.getTimezoneOffset();
  const local = new Date(ms + offsetMin * 60_000);
  const s =
    `${pad(local.getUTCFullYear(), 4)}-${pad(local.getUTCMonth() + 1, 2)}-` +
    `${pad(local.getUTCDate(), 2)}T${pad(local.getUTCHours(), 2)}:` +
    `${pad(local.getUTCMinutes(), 2)}:${pad(local.getUTCSeconds(), 2)}`;
  let fraction = '';
  if (frac !== 0) fraction = `.${pad(frac, 9).replace(/0+$/, '')}`;
  return `${s}${fraction}${zone(offsetMin)}`;
}

function zone(offsetMin: number): string {
  if (offsetMin === 0) return 'Z';
  const sign = offsetMin < 0 ? '-' : '+';
  const abs = Math.abs(offsetMin);
  return `${sign}${pad(Math.floor(abs / 60), 2)}:${pad(abs % 60, 2)}`;
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}
