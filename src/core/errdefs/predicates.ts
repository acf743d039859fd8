import { kindOf } from './berth-error.js';
import type { ErrorKind } from './kinds.js';

/** Reports whether {@link kindOf} gives `kind` for `err`. */
export function hasKind(err: unknown, kind: ErrorKind): boolean {
  return kindOf(err) === kind;
}

type Predicate = (err: unknown) => boolean;

function predicate(kind: ErrorKind): Predicate {
  return (err) => kindOf(err) === kind;
}

export const isInvalidArgument: Predicate = predicate('invalid_argument');
export const isNotFound: Predicate = predicate('not_found');
export const isAlreadyExists: Predicate = predicate('already_exists');
export const isFailedPrecondition: Predicate = predicate('failed_precondition');
export const isConflict: Predicate = predicate('conflict');
export const isNotModified: Predicate = predicate('not_modified');
export const isAborted: Predicate = predicate('aborted');
export const isOutOfRange: Predicate = predicate('out_of_range');
export const isNotImplemented: Predicate = predicate('not_implemented');
export const isInternal: Predicate = predicate('internal');
export const isUnavailable: Predicate = predicate('unavailable');
export const isDataLoss: Predicate = predicate('data_loss');
export const isUnauthenticated: Predicate = predicate('unauthenticated');
export const isPermissionDenied: Predicate = predicate('permission_denied');
export const isResourceExhausted: Predicate = predicate('resource_exhausted');
export const isCanceled: Predicate = predicate('canceled');
export const isDeadlineExceeded: Predicate = predicate('deadline_exceeded');
