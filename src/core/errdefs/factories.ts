import { BerthError } from './berth-error.js';
import type { ErrorKind } from './kinds.js';

/** Builds a {@link BerthError}; prefer the per-kind factories below. */
export function newError(kind: ErrorKind, message: string, options?: ErrorOptions): BerthError {
  return new BerthError(kind, message, options);
}

type Factory = (message: string, options?: ErrorOptions) => BerthError;

function factory(kind: ErrorKind): Factory {
  return (message, options) => new BerthError(kind, message, options);
}

export const invalidArgument: Factory = factory('invalid_argument');
export const notFound: Factory = factory('not_found');
export const alreadyExists: Factory = factory('already_exists');
export const failedPrecondition: Factory = factory('failed_precondition');
export const conflict: Factory = factory('conflict');
export const notModified: Factory = factory('not_modified');
export const aborted: Factory = factory('aborted');
export const outOfRange: Factory = factory('out_of_range');
export const notImplemented: Factory = factory('not_implemented');
export const internal: Factory = factory('internal');
export const unavailable: Factory = factory('unavailable');
export const dataLoss: Factory = factory('data_loss');
export const unauthenticated: Factory = factory('unauthenticated');
export const permissionDenied: Factory = factory('permission_denied');
export const resourceExhausted: Factory = factory('resource_exhausted');
export const canceled: Factory = factory('canceled');
export const deadlineExceeded: Factory = factory('deadline_exceeded');
export const unknown: Factory = factory('unknown');
