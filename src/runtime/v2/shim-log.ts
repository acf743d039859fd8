import { closeSync, openSync } from 'node:fs';
import { Socket } from 'node:net';
import { createInterface } from 'node:readline';
import type { Logger } from '../../core/log/index.js';
import { AT_FDCWD, isErrno, mknodat, O_CLOEXEC, O_NONBLOCK, O_RDWR } from '../../sys/linux.js';

const S_IFIFO = 0o010000;

/** The shim log's reading end; `close()` is idempotent. */
export interface ShimLog {
  close(): void;
}

/**
 * The shim writes its log into the `log` FIFO of its bundle and blocks
 * opening it until a reader exists, so the daemon opens it first (and again
 * after a restart). Opened read-write, the FIFO never reports end of file
 * while the shim restarts its writer, and never blocks the open. Lines go to
 * the daemon's log at the level the shim gave them.
 */
export function openShimLog(path: string, log: Logger): ShimLog {
  try {
    mknodat(AT_FDCWD, path, S_IFIFO | 0o700);
  } catch (err) {
    if (!isErrno(err, 'EEXIST')) throw err;
  }
  const fd = openSync(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
  let sock: Socket;
  try {
    sock = new Socket({ fd, readable: true, writable: false });
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  sock.on('error', (err) => log.debug({ err }, 'shim log'));
  const lines = createInterface({ input: sock, crlfDelay: Number.POSITIVE_INFINITY });
  lines.on('line', (line) => logLine(log, line));
  let closed = false;
  return {
    close() {
      if (closed) return;
      closed = true;
      lines.close();
      sock.destroy();
    },
  };
}

/** logrus text lines carry `level=<name>`; anything else is informational. */
function logLine(log: Logger, line: string): void {
  if (line === '') return;
  const level = /\blevel=(\w+)/.exec(line)?.[1];
  switch (level) {
    case 'error':
    case 'fatal':
    case 'panic':
      log.error({ shimLog: line }, 'shim');
      break;
    case 'warning':
    case 'warn':
      log.warn({ shimLog: line }, 'shim');
      break;
    case 'debug':
    case 'trace':
      log.debug({ shimLog: line }, 'shim');
      break;
    default:
      log.info({ shimLog: line }, 'shim');
  }
}
