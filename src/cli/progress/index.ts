/**
 * @module
 * Progress of `berth pull`, `push`, `load` and `save` on stderr:
 *
 * - `tty`: a live display redrawn in place at most 10 times a second (a
 *   change that came too soon is drawn when the next frame may be, and the
 *   frame is redrawn once a second while nothing moves, for the elapsed
 *   time); the last frame stays on screen.
 * - `plain` (logs): a line per change of a layer's state, a total line at
 *   most every 5 s while bytes move, a summary at the end.
 * - `json`: one JSON object per event and line, nothing else.
 * - `quiet`: nothing.
 *
 * `auto` is `tty` on a terminal (unless TERM=dumb), `plain` elsewhere.
 */
import { invalidArgument } from '../../core/errdefs/index.js';
import type { ProgressFn } from '../../core/transfer/index.js';
import { humanDuration, humanRate, humanSize, rateOf } from './human.js';
import { shortDigest, Tracker } from './tracker.js';
import { frame, frameLines } from './tty.js';

export { humanDuration, humanRate, humanSize } from './human.js';

export type ProgressMode = 'auto' | 'tty' | 'plain' | 'json' | 'quiet';

/** What progress is written to: process.stderr, or a fake in tests. */
export interface ProgressStream {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
  rows?: number;
}

export interface ProgressOptions {
  /** The clock, in ms (Date.now). */
  now?: () => number;
  /** No colors even on a terminal (NO_COLOR in the environment does the same). */
  noColor?: boolean;
  /**
   * `tty`: how often the frame is redrawn while no event comes, for the
   * elapsed time (ms). Default 1000. 0 turns timers off (tests with a fake
   * clock): frames are then drawn on events and at the end only.
   */
  refreshMs?: number;
  /** The environment NO_COLOR and TERM are read from (process.env). */
  env?: NodeJS.ProcessEnv;
}

export interface ProgressDisplay {
  onProgress: ProgressFn;
  /**
   * Ends the display: the final frame, then `summary` when given, else
   * `pulled|pushed N layers, SIZE in TIME (RATE)` when blobs moved.
   */
  done(summary?: string): void;
  /** Ends the display after a failure: unfinished layers show `failed`. The caller reports the error itself. */
  fail(err: unknown): void;
}

/** `tty` frames are at least this far apart (at most 10 a second). */
export const MIN_FRAME_MS = 100;
/** `plain` total lines are at least this far apart. */
export const PLAIN_TOTAL_MS = 5000;

const MODES: readonly ProgressMode[] = ['auto', 'tty', 'plain', 'json', 'quiet'];

/** The value of a `--progress` flag; `invalid_argument` naming the choices for anything else. */
export function parseProgressMode(value: string): ProgressMode {
  const mode = MODES.find((m) => m === value);
  if (mode === undefined) {
    throw invalidArgument(
      `invalid progress mode ${JSON.stringify(value)}: want one of ${MODES.join(', ')}`,
    );
  }
  return mode;
}

/** The mode `auto` stands for on `stream`. */
export function resolveMode(
  mode: ProgressMode,
  stream: ProgressStream,
  env: NodeJS.ProcessEnv = process.env,
): Exclude<ProgressMode, 'auto'> {
  if (mode !== 'auto') return mode;
  return stream.isTTY === true && env.TERM !== 'dumb' ? 'tty' : 'plain';
}

export function createProgress(
  mode: ProgressMode,
  stream: ProgressStream = process.stderr,
  opts: ProgressOptions = {},
): ProgressDisplay {
  const env = opts.env ?? process.env;
  const now = opts.now ?? Date.now;
  switch (resolveMode(mode, stream, env)) {
    case 'quiet':
      return { onProgress: () => {}, done: () => {}, fail: () => {} };
    case 'json':
      return jsonProgress(stream, now);
    case 'plain':
      return plainProgress(stream, now);
    case 'tty': {
      const noColor = opts.noColor === true || (env.NO_COLOR ?? '') !== '' || stream.isTTY !== true;
      return ttyProgress(stream, now, !noColor, opts.refreshMs ?? 1000);
    }
  }
}

function jsonProgress(stream: ProgressStream, now: () => number): ProgressDisplay {
  return {
    onProgress: (p) => {
      const line = {
        event: p.event,
        name: p.name,
        ...(p.parents !== undefined && p.parents.length > 0 && { parents: p.parents }),
        progress: p.progress,
        total: p.total,
        time: new Date(now()).toISOString(),
      };
      stream.write(`${JSON.stringify(line)}\n`);
    },
    done: () => {},
    fail: () => {},
  };
}

function plainProgress(stream: ProgressStream, now: () => number): ProgressDisplay {
  const t = new Tracker();
  const shown = new Map<string, string>();
  let status = '';
  let lastTotal: number | undefined;
  let ended = false;
  const line = (s: string) => stream.write(`${s}\n`);

  const showStates = () => {
    for (const b of t.rows()) {
      const state = t.state(b);
      if (shown.get(b.digest) === state) continue;
      const first = !shown.has(b.digest);
      shown.set(b.digest, state);
      // Waiting is where every layer starts: not worth a line in a log.
      if (first && state === 'waiting') continue;
      const size =
        (state === 'downloading' || state === 'uploading' || state === 'unpacking') && b.total > 0
          ? ` ${humanSize(b.total)}`
          : '';
      line(`${shortDigest(b.digest)}: ${state}${size}`);
    }
  };

  return {
    onProgress: (p) => {
      if (ended) return;
      const at = now();
      const b = t.update(p, at);
      if (b === undefined) {
        if (t.status !== status) {
          status = t.status;
          line(status);
        }
        if (p.event === 'saved' && p.name !== '') line(`saved ${p.name}`);
        return;
      }
      showStates();
      if (p.event === 'downloading' || p.event === 'uploading') {
        lastTotal ??= t.started ?? at;
        if (at - lastTotal >= PLAIN_TOTAL_MS) {
          lastTotal = at;
          const { done, total } = t.totals();
          const elapsed = at - (t.started ?? at);
          line(
            `total: ${humanSize(done)} of ${humanSize(total)} (${humanRate(rateOf(done, elapsed))}, ${humanDuration(elapsed)})`,
          );
        }
      }
    },
    done: (summary) => {
      if (ended) return;
      ended = true;
      const s =
        summary ?? t.summary(now(), { size: humanSize, rate: humanRate, duration: humanDuration });
      if (s !== '') line(s);
    },
    fail: () => {
      if (ended) return;
      ended = true;
      t.fail();
      showStates();
    },
  };
}

function ttyProgress(
  stream: ProgressStream,
  now: () => number,
  color: boolean,
  refreshMs: number,
): ProgressDisplay {
  const t = new Tracker();
  let drawn = 0;
  let lastDraw: number | undefined;
  let ended = false;
  let timer: NodeJS.Timeout | undefined;
  let trailing: NodeJS.Timeout | undefined;

  const draw = () => {
    if (trailing !== undefined) clearTimeout(trailing);
    trailing = undefined;
    const at = now();
    lastDraw = at;
    const lines = frameLines(t, {
      columns: stream.columns ?? 80,
      rows: stream.rows,
      color,
      now: at,
    });
    if (lines.length === 0 && drawn === 0) return;
    stream.write(frame(lines, drawn));
    drawn = lines.length;
  };
  const maybeDraw = () => {
    const since = lastDraw === undefined ? MIN_FRAME_MS : now() - lastDraw;
    if (since >= MIN_FRAME_MS) draw();
    else if (trailing === undefined && refreshMs > 0) {
      // The last change before a quiet spell is shown as soon as frames may be drawn again.
      trailing = setTimeout(draw, MIN_FRAME_MS - since);
      trailing.unref();
    }
  };
  const stop = () => {
    ended = true;
    if (timer !== undefined) clearInterval(timer);
    if (trailing !== undefined) clearTimeout(trailing);
    timer = undefined;
    trailing = undefined;
  };

  return {
    onProgress: (p) => {
      if (ended) return;
      t.update(p, now());
      if (timer === undefined && refreshMs > 0) {
        // Keeps the elapsed time moving while a large layer unpacks; never holds the process open.
        timer = setInterval(maybeDraw, refreshMs);
        timer.unref();
      }
      maybeDraw();
    },
    done: (summary) => {
      if (ended) return;
      stop();
      draw();
      const s =
        summary ?? t.summary(now(), { size: humanSize, rate: humanRate, duration: humanDuration });
      if (s !== '') stream.write(`${s}\n`);
    },
    fail: () => {
      if (ended) return;
      stop();
      t.fail();
      draw();
    },
  };
}
