/**
 * @module
 * The temporary lease containerd's client puts around a pull, an import or
 * an unpack when the caller has none (`client.WithLease`): expiring 24 h
 * ahead (`containerd.io/gc.expire`), so a crash mid-operation leaves nothing
 * the collector keeps forever, and deleted at the end.
 */
import { randomBytes } from 'node:crypto';
import { LEASE_EXPIRE_LABEL, type LeaseManager } from '../core/leases/index.js';
import type { OpContext } from '../core/namespaces/index.js';

const DAY_MS = 24 * 60 * 60 * 1000;

/** RFC 3339 without fractions, as Go's time.RFC3339 formats it. */
function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
}

/**
 * Runs `fn` with a context that carries a lease: the caller's, or a new
 * temporary one that is deleted afterwards (success or failure).
 */
export async function withLease<T>(
  ctx: OpContext,
  leases: LeaseManager,
  fn: (ctx: OpContext) => Promise<T>,
): Promise<T> {
  if (ctx.lease) return fn(ctx);
  const id = `${Date.now() * 1e6}-${randomBytes(4).toString('hex')}`;
  await leases.create(ctx, { id, labels: { [LEASE_EXPIRE_LABEL]: rfc3339(Date.now() + DAY_MS) } });
  const leased: OpContext = { ...ctx, lease: id, signal: ctx.signal, log: ctx.log };
  try {
    return await fn(leased);
  } finally {
    await leases.delete(ctx, id).catch((err: unknown) => {
      ctx.log.warn({ err, lease: id }, 'deleting the temporary lease failed');
    });
  }
}
