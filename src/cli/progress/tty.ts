/**
 * @module
 * The live display on a terminal, like docker's: a status line, one row per
 * layer (short digest, state, bar, bytes) and a total line, redrawn in
 * place. Each frame is one write: the cursor goes back up over the previous
 * frame and every line is rewritten and cleared to its end.
 */
import { humanDuration, humanRate, humanSize, rateOf } from './human.js';
import type { Blob, BlobState, Tracker } from './tracker.js';
import { shortDigest } from './tracker.js';

const ESC = '\x1b[';
const STATE_WIDTH = 'already exists'.length;
const BAR_MAX = 40;
const BAR_MIN = 10;

const COLORS: Partial<Record<BlobState, string>> = {
  downloading: '36', // cyan
  uploading: '36',
  unpacking: '33', // yellow
  done: '32', // green
  'already exists': '2', // dim
  skipped: '2',
  failed: '31', // red
};

export interface FrameOptions {
  /** The terminal's width; lines are cut to one less so that none wraps. */
  columns: number;
  /** The terminal's height: rows of finished layers are folded when the frame would not fit. */
  rows: number | undefined;
  color: boolean;
  now: number;
}

/** The lines of a frame (no newlines, no cursor movement). */
export function frameLines(t: Tracker, o: FrameOptions): string[] {
  const width = Math.max(20, o.columns - 1);
  const lines: string[] = [];
  if (t.status !== '') lines.push(cut(t.status, width));
  let rows = t.rows();
  // A frame taller than the screen cannot be redrawn in place: finished rows
  // (oldest first) fold into one line above, then waiting ones (last first) into one below.
  const room =
    o.rows === undefined ? Number.POSITIVE_INFINITY : Math.max(2, o.rows - lines.length - 2);
  let finished = 0;
  let waiting = 0;
  if (rows.length > room) {
    const fold = new Set(
      rows.filter((b) => isFinished(t.state(b))).slice(0, rows.length - room + 1),
    );
    finished = fold.size;
    rows = rows.filter((b) => !fold.has(b));
  }
  const left = room - (finished > 0 ? 1 : 0);
  if (rows.length > left) {
    const fold = new Set(
      rows
        .filter((b) => t.state(b) === 'waiting')
        .reverse()
        .slice(0, rows.length - left + 1),
    );
    waiting = fold.size;
    rows = rows.filter((b) => !fold.has(b));
  }
  if (finished > 0) lines.push(cut(`${layers(finished)} finished`, width));
  for (const b of rows) lines.push(row(t, b, width, o.color));
  if (waiting > 0) lines.push(cut(`${layers(waiting)} waiting`, width));
  if (t.blobs.size > 0) lines.push(totalLine(t, width, o.now));
  return lines;
}

/** The bytes to write for a frame, given how many lines the previous frame had. */
export function frame(lines: string[], previous: number): string {
  let s = previous > 0 ? `\r${ESC}${previous}A` : '';
  for (const l of lines) s += `\r${l}${ESC}K\n`;
  // A shorter frame than the last one: clear what is left below.
  if (lines.length < previous) s += `${ESC}J`;
  return s;
}

function isFinished(s: BlobState): boolean {
  return s === 'done' || s === 'already exists' || s === 'skipped' || s === 'downloaded';
}

function layers(n: number): string {
  return `${n} more ${n === 1 ? 'layer' : 'layers'}`;
}

function row(t: Tracker, b: Blob, width: number, color: boolean): string {
  const state = t.state(b);
  const head = `${shortDigest(b.digest)}: `;
  const stateText = state.padEnd(STATE_WIDTH);
  let bytes = '';
  if (state === 'downloading' || state === 'uploading') {
    bytes = b.total > 0 ? `${humanSize(b.progress)}/${humanSize(b.total)}` : humanSize(b.progress);
  } else if (b.total > 0 && state !== 'already exists' && state !== 'skipped') {
    bytes = humanSize(b.total);
  }
  // head + state + ' ' + bar + ' ' + bytes; the bar takes what is left, up to BAR_MAX.
  const fixed = head.length + stateText.length + 1 + bytes.length;
  const moving = state === 'downloading' || state === 'uploading';
  const barWidth = Math.min(BAR_MAX, width - fixed - 1);
  let plain: string;
  let barText = '';
  if (moving && b.total > 0 && barWidth >= BAR_MIN) {
    barText = bar(b.progress / b.total, barWidth);
    plain = `${head}${stateText} ${barText} ${bytes}`;
  } else {
    plain = `${head}${stateText}${bytes === '' ? '' : ` ${bytes}`}`.trimEnd();
  }
  plain = cut(plain, width);
  const code = COLORS[state];
  if (!color || code === undefined) return plain;
  // Only the state word is colored; it sits right after the digest and is never cut off.
  const at = head.length;
  if (plain.length < at + state.length) return plain;
  return `${plain.slice(0, at)}${ESC}${code}m${state}${ESC}0m${plain.slice(at + state.length)}`;
}

/** `[=====>     ]` of `width` characters, brackets included. */
export function bar(fraction: number, width: number): string {
  const inner = width - 2;
  const f = Math.min(1, Math.max(0, fraction));
  const filled = Math.floor(f * inner);
  const body =
    filled >= inner ? '='.repeat(inner) : `${'='.repeat(filled)}>${' '.repeat(inner - filled - 1)}`;
  return `[${body}]`;
}

function totalLine(t: Tracker, width: number, now: number): string {
  const { done, total } = t.totals();
  const elapsed = now - (t.started ?? now);
  const of = total > done ? `/${humanSize(total)}` : '';
  return cut(
    `total: ${humanSize(done)}${of}, ${humanRate(rateOf(done, elapsed))}, ${humanDuration(elapsed)}`,
    width,
  );
}

function cut(s: string, width: number): string {
  return s.length <= width ? s : `${s.slice(0, Math.max(0, width - 1))}…`;
}
