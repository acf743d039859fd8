import { kindOf } from './berth-error.js';
import type { ErrorKind } from './kinds.js';

/**
 * The canonical status codes of google.rpc.Code. gRPC and ttrpc carry the
 * same numbers, so this is the one table every transport maps through.
 */
export const StatusCode = Object.freeze({
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const);

export type StatusCode = (typeof StatusCode)[keyof typeof StatusCode];

/**
 * Error kind → status code, as containerd's errdefs.ToGRPC. `conflict` and
 * `not_modified` have no code of their own and travel as FAILED_PRECONDITION.
 */
export const KIND_TO_STATUS_CODE: Readonly<Record<ErrorKind, StatusCode>> = Object.freeze({
  invalid_argument: StatusCode.INVALID_ARGUMENT,
  not_found: StatusCode.NOT_FOUND,
  already_exists: StatusCode.ALREADY_EXISTS,
  failed_precondition: StatusCode.FAILED_PRECONDITION,
  conflict: StatusCode.FAILED_PRECONDITION,
  not_modified: StatusCode.FAILED_PRECONDITION,
  aborted: StatusCode.ABORTED,
  out_of_range: StatusCode.OUT_OF_RANGE,
  not_implemented: StatusCode.UNIMPLEMENTED,
  internal: StatusCode.INTERNAL,
  unavailable: StatusCode.UNAVAILABLE,
  data_loss: StatusCode.DATA_LOSS,
  unauthenticated: StatusCode.UNAUTHENTICATED,
  permission_denied: StatusCode.PERMISSION_DENIED,
  resource_exhausted: StatusCode.RESOURCE_EXHAUSTED,
  canceled: StatusCode.CANCELLED,
  deadline_exceeded: StatusCode.DEADLINE_EXCEEDED,
  unknown: StatusCode.UNKNOWN,
});

/**
 * Status code → error kind, the way back. OK has no error kind; a failure
 * that claims it is `unknown`.
 */
export const STATUS_CODE_TO_KIND: Readonly<Record<StatusCode, ErrorKind>> = Object.freeze({
  [StatusCode.OK]: 'unknown',
  [StatusCode.CANCELLED]: 'canceled',
  [StatusCode.UNKNOWN]: 'unknown',
  [StatusCode.INVALID_ARGUMENT]: 'invalid_argument',
  [StatusCode.DEADLINE_EXCEEDED]: 'deadline_exceeded',
  [StatusCode.NOT_FOUND]: 'not_found',
  [StatusCode.ALREADY_EXISTS]: 'already_exists',
  [StatusCode.PERMISSION_DENIED]: 'permission_denied',
  [StatusCode.RESOURCE_EXHAUSTED]: 'resource_exhausted',
  [StatusCode.FAILED_PRECONDITION]: 'failed_precondition',
  [StatusCode.ABORTED]: 'aborted',
  [StatusCode.OUT_OF_RANGE]: 'out_of_range',
  [StatusCode.UNIMPLEMENTED]: 'not_implemented',
  [StatusCode.INTERNAL]: 'internal',
  [StatusCode.UNAVAILABLE]: 'unavailable',
  [StatusCode.DATA_LOSS]: 'data_loss',
  [StatusCode.UNAUTHENTICATED]: 'unauthenticated',
} satisfies Record<StatusCode, ErrorKind>);

/**
 * The text containerd's errdefs give each class. containerd's messages end
 * in it (`namespace "a": not found`), and its Go client strips and re-adds
 * it, so berth's wire messages carry it too.
 */
export const KIND_SUFFIX: Readonly<Partial<Record<ErrorKind, string>>> = Object.freeze({
  invalid_argument: 'invalid argument',
  not_found: 'not found',
  already_exists: 'already exists',
  failed_precondition: 'failed precondition',
  conflict: 'failed precondition',
  not_modified: 'failed precondition',
  unavailable: 'unavailable',
  not_implemented: 'not implemented',
});

/** The error kind a status code stands for; codes outside the table are `unknown`. */
export function kindOfStatusCode(code: number): ErrorKind {
  return Object.hasOwn(STATUS_CODE_TO_KIND, code)
    ? STATUS_CODE_TO_KIND[code as StatusCode]
    : 'unknown';
}

/** What a server answers for a thrown value. */
export interface ErrorStatus {
  readonly kind: ErrorKind;
  readonly code: StatusCode;
  /** The error's message, ending in its kind's containerd text when it has one. */
  readonly message: string;
}

/**
 * The status for any thrown value, as containerd's servers answer it: the
 * kind's code, and the message with the kind's text appended unless it is
 * already there. Callers log `unknown` ones: they are bugs or unclassified
 * failures.
 */
export function statusOfError(err: unknown): ErrorStatus {
  const kind = kindOf(err);
  let message = err instanceof Error ? err.message : String(err);
  const suffix = KIND_SUFFIX[kind];
  if (suffix && !message.endsWith(`: ${suffix}`) && message !== suffix) {
    message = message === '' ? suffix : `${message}: ${suffix}`;
  }
  return { kind, code: KIND_TO_STATUS_CODE[kind], message };
}
