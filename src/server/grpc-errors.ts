import { Metadata, type StatusObject, status } from '@grpc/grpc-js';
import { type ErrorKind, kindOf } from '../core/errdefs/index.js';
import type { Logger } from '../core/log/index.js';

/**
 * The one table from berth's error kinds to gRPC status codes (server side).
 * Its mirror for clients is src/client/errors.ts; a test checks they agree.
 */
export const KIND_TO_CODE: Readonly<Record<ErrorKind, status>> = {
  invalid_argument: status.INVALID_ARGUMENT,
  not_found: status.NOT_FOUND,
  already_exists: status.ALREADY_EXISTS,
  failed_precondition: status.FAILED_PRECONDITION,
  conflict: status.FAILED_PRECONDITION,
  not_modified: status.FAILED_PRECONDITION,
  aborted: status.ABORTED,
  out_of_range: status.OUT_OF_RANGE,
  not_implemented: status.UNIMPLEMENTED,
  internal: status.INTERNAL,
  unavailable: status.UNAVAILABLE,
  data_loss: status.DATA_LOSS,
  unauthenticated: status.UNAUTHENTICATED,
  permission_denied: status.PERMISSION_DENIED,
  resource_exhausted: status.RESOURCE_EXHAUSTED,
  canceled: status.CANCELLED,
  deadline_exceeded: status.DEADLINE_EXCEEDED,
  unknown: status.UNKNOWN,
};

/**
 * The text containerd's errdefs give each class. containerd's messages end
 * in it (`namespace "a": not found`), and its Go client strips and re-adds
 * it, so berth's wire messages carry it too.
 */
export const KIND_SUFFIX: Readonly<Partial<Record<ErrorKind, string>>> = {
  invalid_argument: 'invalid argument',
  not_found: 'not found',
  already_exists: 'already exists',
  failed_precondition: 'failed precondition',
  conflict: 'failed precondition',
  not_modified: 'failed precondition',
  unavailable: 'unavailable',
  not_implemented: 'not implemented',
};

/** A gRPC status for any thrown value. Unclassified errors are logged with their stack. */
export function toGrpcStatus(err: unknown, log: Logger): Partial<StatusObject> {
  const kind = kindOf(err);
  let message = err instanceof Error ? err.message : String(err);
  if (kind === 'unknown') {
    log.error({ err }, 'unclassified error');
  }
  const suffix = KIND_SUFFIX[kind];
  if (suffix && !message.endsWith(`: ${suffix}`) && message !== suffix) {
    message = `${message}: ${suffix}`;
  }
  return { code: KIND_TO_CODE[kind], details: message, metadata: new Metadata() };
}
