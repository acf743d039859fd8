import { createRequire } from 'node:module';
import { type DestinationStream, type Logger, pino } from 'pino';
import type { LogLevel } from './defaults.js';

/**
 * berthd's logger: JSON lines on stderr by default, readable text when
 * stderr is a terminal (or `format = "text"`).
 */
export function createLogger(opts: { level: LogLevel; format?: 'json' | 'text' }): Logger {
  const format = opts.format ?? (process.stderr.isTTY ? 'text' : 'json');
  const base = { level: opts.level, timestamp: pino.stdTimeFunctions.isoTime };
  if (format === 'text') {
    // pino-pretty as an in-thread stream, not a transport: no worker thread.
    const pretty = createRequire(import.meta.url)('pino-pretty') as (
      o: Record<string, unknown>,
    ) => DestinationStream;
    return pino(base, pretty({ destination: 2, sync: true, translateTime: 'SYS:standard' }));
  }
  return pino(base, pino.destination({ dest: 2, sync: true }));
}
