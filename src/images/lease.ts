/**
 * @module
 * The temporary lease containerd's client puts around a pull, an import or
 * an unpack when the caller has none (`client.WithLease`): expiring 24 h
 * ahead (`containerd.io/gc.expire`), so a crash mid-operation leaves nothing
 * the collector keeps forever, and deleted at the end.
 */
import { randomBytes } from 'node:crypto';
import type { IngestManager } from '../core/content/index.js';
import { isNotFound } from '../core/errdefs/index.js';
import { LEASE_EXPIRE_LABEL, type LeaseManager, RESOURCE_INGESTS } from '../core/leases/index.js';
import type { OpContext } from '../core/namespaces/index.js';

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * `<nanoseconds of the second>-<base64url of 3 random bytes>`: containerd's
 * random lease IDs (leases.WithRandomID) and extraction keys (uniquePart).
 */
export function uniquePart(): string {
  const nanos = (Date.now() % 1000) * 1_000_000 + Math.floor(Math.random() * 1_000_000);
  return `${nanos}-${randomBytes(3).toString('base64url')}`;
}

/** RFC 3339 without fractions, as Go's time.RFC3339 formats it. */
function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
}

/**
 * The context for cleaning up after `ctx`: same namespace, lease and logger,
 * but a signal that is not aborted, so that undoing work still happens when
 * the operation was cancelled (over gRPC an aborted signal cancels the call).
 */
export function detached(ctx: OpContext): OpContext {
  return { ...ctx, signal: new AbortController().signal };
}

/**
 * Runs `fn` with a context that carries a lease: the caller's, or a new
 * temporary one that is deleted afterwards (success or failure). Before a
 * temporary lease goes, the ingests it still holds (a cancelled or failed
 * transfer's partial blobs) are aborted: containerd's collector removes
 * ingests no lease holds once their lease is deleted, and this leaves the
 * same state whatever the store's collector does with them.
 */
export async function withLease<T>(
  ctx: OpContext,
  stores: { leases: LeaseManager; content: IngestManager },
  fn: (ctx: OpContext) => Promise<T>,
): Promise<T> {
  const { leases } = stores;
  if (ctx.lease) return fn(ctx);
  const id = uniquePart();
  await leases.create(ctx, { id, labels: { [LEASE_EXPIRE_LABEL]: rfc3339(Date.now() + DAY_MS) } });
  const leased: OpContext = { ...ctx, lease: id, signal: ctx.signal, log: ctx.log };
  try {
    return await fn(leased);
  } finally {
    const cleanup = detached(leased);
    try {
      for (const r of await leases.listResources(cleanup, id)) {
        if (r.type !== RESOURCE_INGESTS) continue;
        await stores.content.abort(cleanup, r.id).catch((err: unknown) => {
          if (!isNotFound(err))
            ctx.log.warn({ err, ref: r.id }, 'aborting a leftover ingest failed');
        });
      }
    } catch (err) {
      ctx.log.warn({ err, lease: id }, 'listing the temporary lease failed');
    }
    await leases.delete(detached(ctx), id).catch((err: unknown) => {
      ctx.log.warn({ err, lease: id }, 'deleting the temporary lease failed');
    });
  }
}
