import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { invalidArgument } from '../../core/errdefs/index.js';
import { jsonLogPath } from './jsonlog.js';
import { DEFAULT_MAX_FILES, DEFAULT_MAX_SIZE, LoggerKeys } from './logger-args.js';

/** Where a container's stdout and stderr are kept: JSON in its label `berth/log` (Labels.log). */
export interface LogConfig {
  driver: 'json-file';
  /** The current file, `<stateDir>/<id>-json.log`; rotated ones are `<path>.1`, `.2`, … */
  path: string;
  /** Bytes; rotated when an entry would take the file past it. 0 or less: never. */
  maxSize: number;
  /** Files kept, the current one included. */
  maxFiles: number;
}

/** The json-file options of `--log-opt`. */
export interface LogOpts {
  maxSize: number;
  maxFiles: number;
}

/** The config of container `id` whose state directory is `stateDir`. */
export function logConfig(
  stateDir: string,
  id: string,
  opts: LogOpts = parseLogOpts([]),
): LogConfig {
  return {
    driver: 'json-file',
    path: jsonLogPath(stateDir, id),
    maxSize: opts.maxSize,
    maxFiles: opts.maxFiles,
  };
}

/**
 * docker's `--log-opt key=value` for the json-file driver: `max-size` (a size
 * with units: `10m`, `1.5g`, `512k`, bytes without; `-1` unlimited) and
 * `max-file` (at least 1). Defaults: 10 MiB and 3 files.
 */
export function parseLogOpts(opts: readonly string[]): LogOpts {
  const out: LogOpts = { maxSize: DEFAULT_MAX_SIZE, maxFiles: DEFAULT_MAX_FILES };
  for (const opt of opts) {
    const eq = opt.indexOf('=');
    if (eq < 0) throw invalidArgument(`log option ${JSON.stringify(opt)}: want key=value`);
    const key = opt.slice(0, eq);
    const value = opt.slice(eq + 1);
    if (key === 'max-size') {
      out.maxSize = value === '-1' ? -1 : parseSize(value);
    } else if (key === 'max-file') {
      const n = Number(value);
      if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) {
        throw invalidArgument(`log option max-file=${value}: want an integer of at least 1`);
      }
      out.maxFiles = n;
    } else {
      throw invalidArgument(`unknown log opt '${key}' for json-file log driver`);
    }
  }
  return out;
}

const UNITS: Record<string, number> = {
  '': 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
  p: 1024 ** 5,
};

/** docker's RAMInBytes: `<number>[kmgtp][b|ib]`, case-insensitive, binary multiples. */
export function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?$/i.exec(s.trim());
  const unit = UNITS[(m?.[2] ?? '').toLowerCase()];
  if (!m || unit === undefined) throw invalidArgument(`invalid size: ${JSON.stringify(s)}`);
  const n = Math.floor(Number(m[1]) * unit);
  if (!Number.isSafeInteger(n) || n < 1)
    throw invalidArgument(`invalid size: ${JSON.stringify(s)}: want at least 1 byte`);
  return n;
}

/**
 * The logger program in this package: bin/berth-logger, three levels up from
 * this module compiled (dist/cli/logs/) or run from source, two levels up
 * from berth's bundle (dist/berth/).
 */
export const LOGGER_BINARY = ['../../../bin/berth-logger', '../../bin/berth-logger']
  .map((rel) => fileURLToPath(new URL(rel, import.meta.url)))
  .find((p, i, all) => existsSync(p) || i === all.length - 1) as string;

export interface LoggerURIOptions {
  /** The directory the log file goes to (the container's state dir). */
  dir: string;
  maxSize: number;
  maxFiles: number;
  /** Default {@link LOGGER_BINARY}. */
  binary?: string;
  /** The node the logger runs on; default this process's. */
  node?: string;
}

/**
 * The containerd log URI that makes the shim run berth-logger for a task:
 * `binary:///…/bin/berth-logger?--dir=…&--max-size=…&--max-file=…&--node=…`.
 * The shim passes each query key and value as two arguments, in any order.
 */
export function loggerURI(opts: LoggerURIOptions): string {
  const q = new URLSearchParams();
  q.set(LoggerKeys.dir, opts.dir);
  q.set(LoggerKeys.maxSize, String(opts.maxSize));
  q.set(LoggerKeys.maxFiles, String(opts.maxFiles));
  q.set(LoggerKeys.node, opts.node ?? process.execPath);
  const path = (opts.binary ?? LOGGER_BINARY).split('/').map(encodeURIComponent).join('/');
  return `binary://${path}?${q.toString()}`;
}

/** The log URI for a container's {@link LogConfig}. */
export function loggerURIFor(
  config: LogConfig,
  opts: { binary?: string; node?: string } = {},
): string {
  const dir = config.path.slice(0, config.path.lastIndexOf('/'));
  return loggerURI({ dir, maxSize: config.maxSize, maxFiles: config.maxFiles, ...opts });
}
