import type { Status } from '../api/google/rpc/status.js';
import {
  type BerthError,
  kindOfStatusCode,
  newError,
  StatusCode,
  statusOfError,
} from '../core/errdefs/index.js';
import type { Logger } from '../core/log/index.js';

/**
 * The status a server answers for a thrown value, through the shared table
 * (src/core/errdefs/status-codes.ts). Unclassified errors are logged with
 * their stack and answered UNKNOWN.
 */
export function errorToStatus(err: unknown, log: Logger): Status {
  const st = statusOfError(err);
  if (st.kind === 'unknown') log.error({ err }, 'unclassified error');
  return { code: st.code, message: st.message, details: [] };
}

/** A status built from code and message, for the protocol's own answers. */
export function protocolStatus(code: StatusCode, message: string): Status {
  return { code, message, details: [] };
}

/** True when a response carries a failure (a missing status or code 0 is success). */
export function isFailure(status: Status | undefined): status is Status {
  return status !== undefined && status.code !== StatusCode.OK;
}

/** The berth error for a failed status: kind from the code, the peer's message as is. */
export function statusToError(status: Status): BerthError {
  return newError(kindOfStatusCode(status.code), status.message);
}
