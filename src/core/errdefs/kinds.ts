/**
 * The error vocabulary, mirroring containerd's errdefs plus Go's context
 * errors (`canceled`, `deadline_exceeded`).
 */
export type ErrorKind =
  | 'invalid_argument'
  | 'not_found'
  | 'already_exists'
  | 'failed_precondition'
  | 'conflict'
  | 'not_modified'
  | 'aborted'
  | 'out_of_range'
  | 'not_implemented'
  | 'internal'
  | 'unavailable'
  | 'data_loss'
  | 'unauthenticated'
  | 'permission_denied'
  | 'resource_exhausted'
  | 'canceled'
  | 'deadline_exceeded'
  | 'unknown';

const DESCRIPTIONS: Readonly<Record<ErrorKind, string>> = {
  invalid_argument: 'invalid argument',
  not_found: 'not found',
  already_exists: 'already exists',
  failed_precondition: 'failed precondition',
  conflict: 'conflict',
  not_modified: 'not modified',
  aborted: 'aborted',
  out_of_range: 'out of range',
  not_implemented: 'not implemented',
  internal: 'internal',
  unavailable: 'unavailable',
  data_loss: 'data loss',
  unauthenticated: 'unauthenticated',
  permission_denied: 'permission denied',
  resource_exhausted: 'resource exhausted',
  canceled: 'context canceled',
  deadline_exceeded: 'context deadline exceeded',
  unknown: 'unknown',
};

/** Every kind, in declaration order. */
export const ERROR_KINDS: readonly ErrorKind[] = Object.freeze(
  Object.keys(DESCRIPTIONS) as ErrorKind[],
);

/** Reports whether `value` is one of {@link ERROR_KINDS}. */
export function isErrorKind(value: unknown): value is ErrorKind {
  return typeof value === 'string' && Object.hasOwn(DESCRIPTIONS, value);
}

/**
 * The text containerd uses for a kind (`not_found` → `not found`); it is what
 * `BerthError#toString` appends to the message.
 */
export function describeKind(kind: ErrorKind): string {
  return DESCRIPTIONS[kind];
}
