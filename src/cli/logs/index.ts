/** Container logs: docker's json-file format, written by berth-logger (the shim's log driver) or in-process. */
export { decodeEntry, encodeEntry, jsonLogPath, type LogEntry, type LogStream } from './jsonlog.js';
export {
  LOGGER_BINARY,
  type LogConfig,
  type LogOpts,
  logConfig,
  loggerURI,
  loggerURIFor,
  parseLogOpts,
  parseSize,
} from './log-config.js';
export { LogWriter, type LogWriterOptions } from './log-writer.js';
export { type LogOutputs, type ReadLogsOptions, readLogs } from './read-logs.js';
export { parseSince } from './since.js';
