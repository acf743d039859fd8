import type { ServiceError, status } from '@grpc/grpc-js';
import {
  type BerthError,
  type ErrorKind,
  kindOfStatusCode,
  newError,
  STATUS_CODE_TO_KIND,
} from '../core/errdefs/index.js';

/**
 * The predicates a caller tests errors with, containerd's errdefs names
 * (`errdefs.IsNotFound` → `isNotFound`). Every error the client throws is a
 * berth error with one of these kinds.
 */
export {
  BerthError,
  type ErrorKind,
  isAborted,
  isAlreadyExists,
  isBerthError,
  isCanceled,
  isConflict,
  isDataLoss,
  isDeadlineExceeded,
  isFailedPrecondition,
  isInternal,
  isInvalidArgument,
  isNotFound,
  isNotImplemented,
  isNotModified,
  isOutOfRange,
  isPermissionDenied,
  isResourceExhausted,
  isUnauthenticated,
  isUnavailable,
  kindOf,
} from '../core/errdefs/index.js';

/**
 * The client-side mirror of src/server/grpc-errors.ts: a gRPC status code
 * back to berth's error kind, from the table in
 * src/core/errdefs/status-codes.ts. `conflict` and `not_modified` travel as
 * FAILED_PRECONDITION and come back as that, as in containerd.
 */
export const CODE_TO_KIND: Readonly<Record<status, ErrorKind>> = STATUS_CODE_TO_KIND;

/** A berth error for a failed call; the server's message is kept as is. */
export function fromGrpcError(err: ServiceError): BerthError {
  return newError(kindOfStatusCode(err.code), err.details || err.message, { cause: err });
}
