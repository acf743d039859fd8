import { type ServiceError, status } from '@grpc/grpc-js';
import { type BerthError, type ErrorKind, newError } from '../core/errdefs/index.js';

/**
 * The client-side mirror of src/server/grpc-errors.ts: a gRPC status code
 * back to berth's error kind. `conflict` and `not_modified` travel as
 * FAILED_PRECONDITION and come back as that, as in containerd.
 */
export const CODE_TO_KIND: Readonly<Record<status, ErrorKind>> = {
  [status.OK]: 'unknown',
  [status.CANCELLED]: 'canceled',
  [status.UNKNOWN]: 'unknown',
  [status.INVALID_ARGUMENT]: 'invalid_argument',
  [status.DEADLINE_EXCEEDED]: 'deadline_exceeded',
  [status.NOT_FOUND]: 'not_found',
  [status.ALREADY_EXISTS]: 'already_exists',
  [status.PERMISSION_DENIED]: 'permission_denied',
  [status.RESOURCE_EXHAUSTED]: 'resource_exhausted',
  [status.FAILED_PRECONDITION]: 'failed_precondition',
  [status.ABORTED]: 'aborted',
  [status.OUT_OF_RANGE]: 'out_of_range',
  [status.UNIMPLEMENTED]: 'not_implemented',
  [status.INTERNAL]: 'internal',
  [status.UNAVAILABLE]: 'unavailable',
  [status.DATA_LOSS]: 'data_loss',
  [status.UNAUTHENTICATED]: 'unauthenticated',
};

/** A berth error for a failed call; the server's message is kept as is. */
export function fromGrpcError(err: ServiceError): BerthError {
  const kind = CODE_TO_KIND[err.code as status] ?? 'unknown';
  return newError(kind, err.details || err.message, { cause: err });
}
