/**
 * @module
 * The error model: one error class carrying a {@link ErrorKind}, a factory
 * per kind to build errors and predicates to test them. Predicates rely on a
 * `Symbol.for('berth.errdefs')` brand rather than `instanceof`, so they work
 * across copies of this module, and they look through `cause` chains.
 *
 * Messages use containerd's shape, `subject "id": reason`: lower-case, no
 * trailing period, identifiers double-quoted.
 *
 * @example
 * ```ts
 * throw notFound(`image "${name}"`, { cause });
 * // ...
 * if (isNotFound(err)) return undefined;
 * ```
 */
export { BerthError, isBerthError, kindOf } from './berth-error.js';
export {
  aborted,
  alreadyExists,
  canceled,
  conflict,
  dataLoss,
  deadlineExceeded,
  failedPrecondition,
  internal,
  invalidArgument,
  newError,
  notFound,
  notImplemented,
  notModified,
  outOfRange,
  permissionDenied,
  resourceExhausted,
  unauthenticated,
  unavailable,
  unknown,
} from './factories.js';
export { describeKind, ERROR_KINDS, type ErrorKind, isErrorKind } from './kinds.js';
export {
  hasKind,
  isAborted,
  isAlreadyExists,
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
} from './predicates.js';
export {
  type ErrorStatus,
  KIND_SUFFIX,
  KIND_TO_STATUS_CODE,
  kindOfStatusCode,
  STATUS_CODE_TO_KIND,
  StatusCode,
  statusOfError,
} from './status-codes.js';
