import type { Logger } from '../core/log/index.js';
import { namespaceRequired, type OpContext } from '../core/namespaces/index.js';

/** gRPC metadata keys containerd's clients send (see containerd-api.md §1.1). */
export const NAMESPACE_HEADER = 'containerd-namespace';
export const LEASE_HEADER = 'containerd-lease';

/** A call's metadata: the first value of a header, by lowercase name. */
export type MetadataReader = (name: string) => string | undefined;

/**
 * Builds the operation context from a call's metadata. For namespaced
 * services the namespace header is checked here, before any handler runs:
 * missing → `failed_precondition`, invalid → `invalid_argument`.
 */
export function contextFromMetadata(
  md: MetadataReader,
  opts: { namespaced: boolean; signal: AbortSignal | (() => AbortSignal); log: Logger },
): OpContext {
  const namespace = md(NAMESPACE_HEADER);
  const lease = md(LEASE_HEADER);
  const ctx = new CallContext(namespace, lease || undefined, opts.signal, opts.log);
  if (opts.namespaced) namespaceRequired(ctx);
  return ctx;
}

/**
 * An OpContext whose signal may be made on first use: most unary calls
 * never look at it, and an AbortController per call is measurable.
 */
class CallContext implements OpContext {
  private made: AbortSignal | undefined;

  constructor(
    readonly namespace: string | undefined,
    readonly lease: string | undefined,
    private readonly source: AbortSignal | (() => AbortSignal),
    readonly log: Logger,
  ) {}

  get signal(): AbortSignal {
    if (this.made === undefined) {
      this.made = typeof this.source === 'function' ? this.source() : this.source;
    }
    return this.made;
  }
}
