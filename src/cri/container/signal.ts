/**
 * @module
 * Stop signals as images and kubelet name them (moby's signal.ParseSignal,
 * which containerd's CRI uses): a number, or a name with or without `SIG`,
 * in any case, including the real-time ones `RTMIN`, `RTMIN+n`, `RTMAX-n`,
 * `RTMAX` (Linux: 34 to 64).
 */
import { constants } from 'node:os';
import { invalidArgument } from '../../core/errdefs/index.js';

const SIGRTMIN = 34;
const SIGRTMAX = 64;

const NAMES: ReadonlyMap<string, number> = (() => {
  const m = new Map<string, number>();
  for (const [name, n] of Object.entries(constants.signals)) m.set(name.slice(3), n);
  m.set('CLD', constants.signals.SIGCHLD);
  m.set('RTMIN', SIGRTMIN);
  m.set('RTMAX', SIGRTMAX);
  for (let i = 1; i <= 15; i++) m.set(`RTMIN+${i}`, SIGRTMIN + i);
  for (let i = 1; i <= 14; i++) m.set(`RTMAX-${i}`, SIGRTMAX - i);
  return m;
})();

/** The signal's number; `invalid_argument` naming the input for anything else. */
export function parseSignal(raw: string): number {
  const s = raw.trim();
  if (/^[0-9]+$/.test(s)) {
    const n = Number(s);
    if (n >= 1 && n <= SIGRTMAX) return n;
  } else {
    const name = s.toUpperCase();
    const n = NAMES.get(name.startsWith('SIG') ? name.slice(3) : name);
    if (n !== undefined) return n;
  }
  throw invalidArgument(`invalid signal ${JSON.stringify(raw)}`);
}
