import {
  type ErrorKind,
  KIND_SUFFIX,
  KIND_TO_STATUS_CODE,
  type StatusCode,
  statusOfError,
} from '../core/errdefs/index.js';
import type { Logger } from '../core/log/index.js';
import { GrpcStatusError } from './wire.js';

/**
 * Berth's error kinds as gRPC status codes (server side). The table itself
 * lives in src/core/errdefs/status-codes.ts, shared with ttrpc. Its mirror
 * for clients is src/client/errors.ts; a test checks they agree.
 */
export const KIND_TO_CODE: Readonly<Record<ErrorKind, StatusCode>> = KIND_TO_STATUS_CODE;

export { KIND_SUFFIX };

export interface GrpcStatus {
  code: StatusCode;
  message: string;
}

/**
 * A gRPC status for any thrown value. Transport refusals keep their own
 * code and text; unclassified errors are logged with their stack.
 */
export function toGrpcStatus(err: unknown, log: Logger): GrpcStatus {
  if (err instanceof GrpcStatusError) return { code: err.code, message: err.message };
  const st = statusOfError(err);
  if (st.kind === 'unknown') {
    log.error({ err }, 'unclassified error');
  }
  return { code: st.code, message: st.message };
}
