/**
 * A process's memory and CPU from /proc, for the benches: VmRSS (what `ps`
 * and `top` show), RssAnon (its anonymous part: the heap, not the binary's
 * text), VmHWM (the peak since the last reset) in KiB; CPU in seconds.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

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

/**
 * CPU seconds of each thread of `pid`: `<thread>.user` and `<thread>.sys`, the
 * thread being `main`, else its name (comm) and id.
 */
export function threadCpuS(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // the thread ended meanwhile
    }
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const name = tid === String(pid) ? 'main' : `${comm}#${tid}`;
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    out.set(`${name}.user`, Number(f[11]) / 100);
    out.set(`${name}.sys`, Number(f[12]) / 100);
  }
  return out;
}
