import type { ServiceError, status } from '@grpc/grpc-js';
import * as errdefs from '../core/errdefs/index.js';
import {
  type BerthError,
  type ErrorKind,
  kindOfStatusCode,
  newError,
  STATUS_CODE_TO_KIND,
} from '../core/errdefs/index.js';

/**
 * A berth error: `kind` is one of containerd's error classes; the message is
 * the daemon's (`image "x": not found`). Every error the client throws is
 * one, tested with the `is…` predicates below (they look through `cause`).
 */
export { BerthError, type ErrorKind, isBerthError, kindOf } from '../core/errdefs/index.js';

/** Whether `err` has the kind `invalid_argument`: a request the daemon refused as malformed (containerd's `errdefs.IsInvalidArgument`). */
export const isInvalidArgument: (err: unknown) => boolean = errdefs.isInvalidArgument;
/** Whether `err` has the kind `not_found`: something that does not exist (containerd's `errdefs.IsNotFound`). */
export const isNotFound: (err: unknown) => boolean = errdefs.isNotFound;
/** Whether `err` has the kind `already_exists`: a name or id already taken (containerd's `errdefs.IsAlreadyExists`). */
export const isAlreadyExists: (err: unknown) => boolean = errdefs.isAlreadyExists;
/** Whether `err` has the kind `failed_precondition`: a state that forbids the call (a running task, a missing namespace) (containerd's `errdefs.IsFailedPrecondition`). */
export const isFailedPrecondition: (err: unknown) => boolean = errdefs.isFailedPrecondition;
/** Whether `err` has the kind `conflict`: a conflicting change (travels as FAILED_PRECONDITION, so it comes back as that) (containerd's `errdefs.IsConflict`). */
export const isConflict: (err: unknown) => boolean = errdefs.isConflict;
/** Whether `err` has the kind `not_modified`: nothing changed (travels as FAILED_PRECONDITION) (containerd's `errdefs.IsNotModified`). */
export const isNotModified: (err: unknown) => boolean = errdefs.isNotModified;
/** Whether `err` has the kind `aborted`: an operation aborted by the daemon (containerd's `errdefs.IsAborted`). */
export const isAborted: (err: unknown) => boolean = errdefs.isAborted;
/** Whether `err` has the kind `out_of_range`: an offset or size out of range (containerd's `errdefs.IsOutOfRange`). */
export const isOutOfRange: (err: unknown) => boolean = errdefs.isOutOfRange;
/** Whether `err` has the kind `not_implemented`: a call or type the daemon does not have (containerd 1.6 has no Transfer service) (containerd's `errdefs.IsNotImplemented`). */
export const isNotImplemented: (err: unknown) => boolean = errdefs.isNotImplemented;
/** Whether `err` has the kind `internal`: a daemon-side fault (containerd's `errdefs.IsInternal`). */
export const isInternal: (err: unknown) => boolean = errdefs.isInternal;
/** Whether `err` has the kind `unavailable`: a daemon that cannot be reached (or a registry that failed) (containerd's `errdefs.IsUnavailable`). */
export const isUnavailable: (err: unknown) => boolean = errdefs.isUnavailable;
/** Whether `err` has the kind `data_loss`: data that no longer reads back as written (containerd's `errdefs.IsDataLoss`). */
export const isDataLoss: (err: unknown) => boolean = errdefs.isDataLoss;
/** Whether `err` has the kind `unauthenticated`: missing or wrong registry credentials (containerd's `errdefs.IsUnauthorized`). */
export const isUnauthenticated: (err: unknown) => boolean = errdefs.isUnauthenticated;
/** Whether `err` has the kind `permission_denied`: an operation not allowed (containerd's `errdefs.IsPermissionDenied`). */
export const isPermissionDenied: (err: unknown) => boolean = errdefs.isPermissionDenied;
/** Whether `err` has the kind `resource_exhausted`: a limit reached (an events subscriber that fell behind) (containerd's `errdefs.IsResourceExhausted`). */
export const isResourceExhausted: (err: unknown) => boolean = errdefs.isResourceExhausted;
/** Whether `err` has the kind `canceled`: a call whose signal was aborted (Go's context.Canceled) (containerd's `errdefs.IsCanceled`). */
export const isCanceled: (err: unknown) => boolean = errdefs.isCanceled;
/** Whether `err` has the kind `deadline_exceeded`: a deadline that passed (Go's context.DeadlineExceeded) (containerd's `errdefs.IsDeadlineExceeded`). */
export const isDeadlineExceeded: (err: unknown) => boolean = errdefs.isDeadlineExceeded;

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
