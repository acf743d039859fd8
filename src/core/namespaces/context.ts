import { failedPrecondition, invalidArgument } from '../errdefs/index.js';
import { validateIdentifier } from '../identifiers/index.js';
import type { Logger } from '../log/index.js';

/** The default namespace, as in containerd (clients read CONTAINERD_NAMESPACE). */
export const DEFAULT_NAMESPACE = 'default';

/**
 * Everything an operation carries: the namespace and lease it acts in, a
 * cancellation signal and a logger. The namespace is never implicit; code
 * that needs one calls {@link namespaceRequired}.
 */
export interface OpContext {
  readonly namespace?: string;
  readonly lease?: string;
  readonly signal: AbortSignal;
  readonly log: Logger;
}

/**
 * Returns the context's namespace, or throws `failed_precondition` when there
 * is none and `invalid_argument` when it is not a valid identifier.
 */
export function namespaceRequired(ctx: Pick<OpContext, 'namespace'>): string {
  const ns = ctx.namespace;
  if (ns === undefined || ns === '') {
    throw failedPrecondition('namespace is required');
  }
  try {
    validateIdentifier(ns);
  } catch (err) {
    throw invalidArgument(`namespace validation: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return ns;
}
