import type { LogFn, Logger } from '../core/log/index.js';

/**
 * The shim's logger: one JSON object per line on stderr, as containerd's
 * shims log with logrus' JSON formatter (`level`, `msg`, `time`, then the
 * fields; an `err` field becomes `error` with its message). containerd reads
 * the shim's stderr through the bundle's `log` FIFO. Deliberately tiny (no
 * pino): the shim's memory is the point of the shim.
 */

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;
type Level = (typeof LEVELS)[number];

/** Writes a line; a stderr that fails (its FIFO's reader gone) silences the logger. */
export type LineSink = (line: string) => void;

let broken = false;
let hooked = false;

/** Lines to stderr (the bundle's log FIFO); a stderr that fails (its reader gone) silences it. */
export function stderrSink(line: string): void {
  if (broken) return;
  if (!hooked) {
    hooked = true;
    process.stderr.on('error', () => {
      broken = true;
    });
  }
  try {
    process.stderr.write(line);
  } catch {
    broken = true;
  }
}

export function createLogger(
  opts: { debug?: boolean; sink?: LineSink; bindings?: Record<string, unknown> } = {},
): Logger {
  return make(opts.debug ? 1 : 2, opts.sink ?? stderrSink, opts.bindings ?? {});
}

function make(min: number, sink: LineSink, bindings: Record<string, unknown>): Logger {
  const fn = (level: Level): LogFn => {
    if (LEVELS.indexOf(level) < min) return () => {};
    return ((a: object | string, msg?: string) => {
      const entry: Record<string, unknown> = {
        level: level === 'warn' ? 'warning' : level,
        msg: typeof a === 'string' ? a : (msg ?? ''),
        time: new Date().toISOString(),
        ...bindings,
      };
      if (typeof a === 'object' && a !== null) {
        for (const [k, v] of Object.entries(a)) {
          if (k === 'err' || v instanceof Error) {
            entry[k === 'err' ? 'error' : k] = v instanceof Error ? v.message : String(v);
          } else entry[k] = v;
        }
      }
      let line: string;
      try {
        line = JSON.stringify(entry, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
      } catch {
        line = JSON.stringify({ level: entry.level, msg: entry.msg, time: entry.time });
      }
      sink(`${line}\n`);
    }) as LogFn;
  };
  return {
    trace: fn('trace'),
    debug: fn('debug'),
    info: fn('info'),
    warn: fn('warn'),
    error: fn('error'),
    child: (b) => make(min, sink, { ...bindings, ...b }),
  };
}
