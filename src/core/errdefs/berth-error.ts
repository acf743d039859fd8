import { describeKind, type ErrorKind, isErrorKind } from './kinds.js';

/**
 * Registry-wide symbol, so that errors created by another copy of this module
 * are still recognised.
 */
const BRAND = Symbol.for('berth.errdefs');

/** The most causes {@link kindOf} follows before giving up. */
const MAX_CAUSE_DEPTH = 32;

/**
 * An error with a kind. Build it with a factory (`notFound(...)`) and test it
 * with a predicate (`isNotFound(err)`) rather than `instanceof`.
 *
 * `message` follows containerd's shape, `subject "id": reason`; `toString()`
 * appends the kind's text, e.g. `image "docker.io/library/busybox:latest": not found`.
 */
export class BerthError extends Error {
  readonly kind: ErrorKind;

  constructor(kind: ErrorKind, message: string, options?: ErrorOptions) {
    if (!isErrorKind(kind)) {
      throw new TypeError(`unknown error kind ${JSON.stringify(kind)}`);
    }
    super(message, options);
    this.kind = kind;
  }

  override toString(): string {
    const text = describeKind(this.kind);
    return this.message === '' ? text : `${this.message}: ${text}`;
  }
}

Object.defineProperty(BerthError.prototype, 'name', {
  value: 'BerthError',
  writable: true,
  configurable: true,
});
Object.defineProperty(BerthError.prototype, BRAND, { value: true });
// `instanceof BerthError` holds for errors from other copies of this module
// too; subclasses keep the ordinary prototype check.
Object.defineProperty(BerthError, Symbol.hasInstance, {
  value: function hasInstance(this: unknown, value: unknown): boolean {
    if (this !== BerthError) {
      return Function.prototype[Symbol.hasInstance].call(this, value);
    }
    return isBerthError(value);
  },
});

/** Reports whether `value` is a {@link BerthError} from any copy of this module. */
export function isBerthError(value: unknown): value is BerthError {
  if (typeof value !== 'object' || value === null) {
    return false;
  }
  const branded = value as { readonly [key: symbol]: unknown; readonly kind?: unknown };
  return branded[BRAND] === true && isErrorKind(branded.kind);
}

/**
 * The kind of `err`: the kind of the first berth error along its `cause`
 * chain (so a plain `Error` wrapping a berth error keeps its kind, like Go's
 * `errors.Is`). An `AbortError` is `canceled` and a `TimeoutError` (as thrown
 * for `AbortSignal.timeout()`) is `deadline_exceeded`. Anything else is
 * `unknown`.
 */
export function kindOf(err: unknown): ErrorKind {
  const seen = new Set<unknown>();
  let current = err;
  for (let depth = 0; depth < MAX_CAUSE_DEPTH; depth++) {
    if (typeof current !== 'object' || current === null || seen.has(current)) {
      break;
    }
    seen.add(current);
    if (isBerthError(current)) {
      return current.kind;
    }
    const { name, code, cause } = current as { name?: unknown; code?: unknown; cause?: unknown };
    if (name === 'AbortError' || code === 'ABORT_ERR') {
      return 'canceled';
    }
    if (name === 'TimeoutError') {
      return 'deadline_exceeded';
    }
    current = cause;
  }
  return 'unknown';
}
