/**
 * The arguments of the logger the shim runs. containerd's shim turns a log URI
 * `binary:///path?k1=v1&k2=v2` into the command `/path k1 v1 k2 v2` (each query
 * key, then its first value; runc shim's NewBinaryCmd), in Go map order, that
 * is in any order: so every option is a `--key value` pair, never positional.
 *
 * Imported by the logger entry: node builtins only.
 */
export interface LoggerArgs {
  /** The directory of the log file `<id>-json.log`. */
  dir: string;
  maxSize: number;
  maxFiles: number;
  /** After SIGTERM, how long to keep reading until the pipes end (ms). */
  stopTimeoutMs: number;
}

export const DEFAULT_MAX_SIZE = 10 * 1024 * 1024;
export const DEFAULT_MAX_FILES = 3;
/** Below the 12 s the shim waits after its SIGTERM before it kills the logger (binaryIOProcTermTimeout). */
export const DEFAULT_STOP_TIMEOUT_MS = 10_000;

/** Parses `--dir D --max-size N --max-file N [--stop-timeout MS]` (keys also without `--`), in any order. */
export function parseLoggerArgs(argv: readonly string[]): LoggerArgs {
  const opts = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 2) {
    opts.set((argv[i] ?? '').replace(/^--?/, ''), argv[i + 1] ?? '');
  }
  const dir = opts.get('dir');
  if (!dir) throw new Error('berth-logger: --dir <directory> is required');
  return {
    dir,
    maxSize: count(opts.get('max-size'), DEFAULT_MAX_SIZE, 'max-size', -1),
    maxFiles: count(opts.get('max-file'), DEFAULT_MAX_FILES, 'max-file', 1),
    stopTimeoutMs: count(opts.get('stop-timeout'), DEFAULT_STOP_TIMEOUT_MS, 'stop-timeout', 0),
  };
}

function count(v: string | undefined, dflt: number, name: string, min: number): number {
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min)
    throw new Error(`berth-logger: --${name} ${v}: not an integer >= ${min}`);
  return n;
}

/** The command-line keys, in the URI's query: `--dir`, `--max-size`, `--max-file`, `--node`. */
export const LoggerKeys = {
  dir: '--dir',
  maxSize: '--max-size',
  maxFiles: '--max-file',
  node: '--node',
} as const;
