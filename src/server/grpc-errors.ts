import { Metadata, type StatusObject, type status } from '@grpc/grpc-js';
import {
  type ErrorKind,
  KIND_SUFFIX,
  KIND_TO_STATUS_CODE,
  statusOfError,
} from '../core/errdefs/index.js';
import type { Logger } from '../core/log/index.js';

/**
 * Berth's error kinds as gRPC status codes (server side). The table itself
 * lives in src/core/errdefs/status-codes.ts, shared with ttrpc; grpc-js's
 * `status` enum has the same numbers. Its mirror for clients is
 * src/client/errors.ts; a test checks they agree.
 */
export const KIND_TO_CODE: Readonly<Record<ErrorKind, status>> = KIND_TO_STATUS_CODE;

export { KIND_SUFFIX };

/** A gRPC status for any thrown value. Unclassified errors are logged with their stack. */
export function toGrpcStatus(err: unknown, log: Logger): Partial<StatusObject> {
  const st = statusOfError(err);
  if (st.kind === 'unknown') {
    log.error({ err }, 'unclassified error');
  }
  return { code: st.code, details: st.message, metadata: new Metadata() };
}
