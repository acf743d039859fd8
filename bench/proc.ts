/**
 * A process's memory and CPU from /proc, for the benches: VmRSS (what `ps`
 * and `top` show), RssAnon (its anonymous part: the heap, not the binary's
 * text), VmHWM (the peak since the last reset) in KiB; CPU in seconds.
 */
import { readFileSync, writeFileSync } from 'node:fs';

export type StatusField = 'VmRSS' | 'RssAnon' | 'RssFile' | 'VmHWM';

/** One field of /proc/<pid>/status, KiB. */
export function statusKiB(pid: number, field: StatusField): number {
  const m = new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0);
}

export interface Memory {
  rssKiB: number;
  anonKiB: number;
}

export function memory(pid: number): Memory {
  return { rssKiB: statusKiB(pid, 'VmRSS'), anonKiB: statusKiB(pid, 'RssAnon') };
}

/** Resets VmHWM to the current VmRSS (clear_refs 5); false when refused (not root, old kernel). */
export function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** utime + stime of `pid` (all its threads), seconds. */
export function cpuS(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}
