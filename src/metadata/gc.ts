import type { ContentStore } from '../core/content/index.js';
import { isNotFound } from '../core/errdefs/index.js';
import {
  GC_EXPIRE_LABEL,
  GC_REF_CONTENT_PREFIX,
  GC_ROOT_LABEL,
  type GcScheduler,
  type GcStats,
} from '../core/gc/index.js';
import type { Labels } from '../core/labels/index.js';
import { RESOURCE_CONTENT, RESOURCE_INGESTS } from '../core/leases/index.js';
import type { Logger } from '../core/log/index.js';
import type { OpContext } from '../core/namespaces/index.js';
import { backendRef } from './content.js';
import type { MetadataDB } from './db.js';
import { nowNanos } from './time.js';

export interface GcOptions {
  mdb: MetadataDB;
  /** The shared blob store the metadata records point into. */
  backend: ContentStore;
  /** Digests being committed right now (recorded in a moment: not garbage). */
  committing: () => ReadonlySet<string>;
  log: Logger;
  /** Delay that coalesces scheduled collections; default 100 ms. */
  delayMs?: number;
}

interface SweepPlan {
  /** Every digest some namespace still records. */
  live: Set<string>;
  /** Backend refs of expired ingests to abort. */
  abortRefs: string[];
  removed: Record<string, number>;
}

/**
 * Mark and sweep over the metadata store, then the backend.
 *
 * Mark, per namespace: roots are image targets, resources of leases that
 * have not expired, and content labelled `containerd.io/gc.root`; from there
 * `containerd.io/gc.ref.content*` labels are followed. Sweep: expired leases,
 * unmarked blob records and expired ingests not held by a lease go. This
 * runs in one write transaction (the only pause other requests see), and
 * then blobs no namespace records any more are deleted from the backend,
 * outside the lock, skipping digests whose commit is in flight.
 */
export class MetadataGc implements GcScheduler {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<GcStats> | undefined;
  private rerun = false;
  private readonly waiters: ((s: Promise<GcStats>) => void)[] = [];

  constructor(private readonly opts: GcOptions) {}

  schedule(): void {
    if (this.timer || this.running) {
      if (this.running) this.rerun = true;
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.start();
    }, this.opts.delayMs ?? 100);
    this.timer.unref();
  }

  /** A collection that starts after this call; resolves when it is done. */
  collect(): Promise<GcStats> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (!this.running) return this.start();
    return new Promise<GcStats>((resolve, reject) => {
      this.waiters.push((p) => p.then(resolve, reject));
      this.rerun = true;
    });
  }

  /** Waits for a collection in progress; for shutdown. */
  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => {});
  }

  private start(): Promise<GcStats> {
    const run = this.collectOnce().finally(() => {
      this.running = undefined;
      if (this.rerun) {
        this.rerun = false;
        const next = this.start();
        for (const w of this.waiters.splice(0)) w(next);
      }
    });
    run.catch((err: unknown) => this.opts.log.error({ err }, 'garbage collection failed'));
    this.running = run;
    return run;
  }

  private async collectOnce(): Promise<GcStats> {
    const t0 = process.hrtime.bigint();
    const plan = this.opts.mdb.update(() => this.markAndSweep());
    const pauseNanos = process.hrtime.bigint() - t0;
    const ctx: OpContext = { signal: new AbortController().signal, log: this.opts.log };
    for (const ref of plan.abortRefs) {
      await this.opts.backend.abort(ctx, ref).catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      });
    }
    const recorded = this.opts.mdb.prepare('SELECT 1 FROM content_blobs WHERE digest = ? LIMIT 1');
    for (const blob of await this.opts.backend.list(ctx)) {
      if (plan.live.has(blob.digest)) continue;
      // Checked again right before the delete is issued (no await between):
      // a commit may have recorded the digest, or be recording it, since the
      // sweep transaction ended.
      if (this.opts.committing().has(blob.digest) || recorded.get(blob.digest)) continue;
      await this.opts.backend.delete(ctx, blob.digest).catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      });
      plan.removed.blobs = (plan.removed.blobs ?? 0) + 1;
    }
    const stats = { removed: plan.removed, pauseNanos };
    this.opts.log.debug({ removed: plan.removed, pauseMs: Number(pauseNanos) / 1e6 }, 'gc done');
    return stats;
  }

  private markAndSweep(): SweepPlan {
    const { mdb } = this.opts;
    const now = nowNanos();
    const removed: Record<string, number> = {};
    const count = (k: string, n: number) => {
      if (n > 0) removed[k] = (removed[k] ?? 0) + n;
    };
    const abortRefs: string[] = [];
    const namespaces = mdb.prepare('SELECT name FROM namespaces').all() as { name: string }[];
    for (const { name: ns } of namespaces) {
      // Expired leases go first; what they held is then unmarked.
      const leases = mdb.prepare('SELECT id, labels FROM leases WHERE namespace = ?').all(ns) as {
        id: string;
        labels: string;
      }[];
      for (const l of leases) {
        if (isExpired(JSON.parse(l.labels) as Labels, now)) {
          mdb
            .prepare('DELETE FROM lease_resources WHERE namespace = ? AND lease = ?')
            .run(ns, l.id);
          mdb.prepare('DELETE FROM leases WHERE namespace = ? AND id = ?').run(ns, l.id);
          count('leases', 1);
        }
      }

      const blobs = new Map<string, Labels>();
      for (const r of mdb
        .prepare('SELECT digest, labels FROM content_blobs WHERE namespace = ?')
        .all(ns) as { digest: string; labels: string }[]) {
        blobs.set(r.digest, JSON.parse(r.labels) as Labels);
      }
      const marked = new Set<string>();
      const queue: string[] = [];
      const mark = (d: string) => {
        if (!marked.has(d) && blobs.has(d)) {
          marked.add(d);
          queue.push(d);
        }
      };
      for (const r of mdb
        .prepare('SELECT target_digest FROM images WHERE namespace = ?')
        .all(ns) as {
        target_digest: string;
      }[]) {
        mark(r.target_digest);
      }
      const leased = mdb
        .prepare('SELECT type, id FROM lease_resources WHERE namespace = ?')
        .all(ns) as { type: string; id: string }[];
      const leasedIngests = new Set<string>();
      for (const r of leased) {
        if (r.type === RESOURCE_CONTENT) mark(r.id);
        else if (r.type === RESOURCE_INGESTS) leasedIngests.add(r.id);
      }
      for (const [d, labels] of blobs) if (labels[GC_ROOT_LABEL] !== undefined) mark(d);
      while (queue.length > 0) {
        const labels = blobs.get(queue.pop()!) ?? {};
        for (const [k, v] of Object.entries(labels)) {
          if (k.startsWith(GC_REF_CONTENT_PREFIX)) mark(v);
        }
      }

      let swept = 0;
      for (const d of blobs.keys()) {
        if (marked.has(d)) continue;
        mdb.prepare('DELETE FROM content_blobs WHERE namespace = ? AND digest = ?').run(ns, d);
        swept++;
      }
      count('content', swept);

      const ingests = mdb
        .prepare('SELECT ref, expires_at FROM content_ingests WHERE namespace = ?')
        .safeIntegers(true)
        .all(ns) as { ref: string; expires_at: bigint | null }[];
      for (const i of ingests) {
        if (leasedIngests.has(i.ref) || i.expires_at === null || i.expires_at > now) continue;
        mdb.prepare('DELETE FROM content_ingests WHERE namespace = ? AND ref = ?').run(ns, i.ref);
        abortRefs.push(backendRef(ns, i.ref));
        count('ingests', 1);
      }
    }
    const live = new Set(
      (mdb.prepare('SELECT DISTINCT digest FROM content_blobs').all() as { digest: string }[]).map(
        (r) => r.digest,
      ),
    );
    return { live, abortRefs, removed };
  }
}

/** A lease is expired once its `containerd.io/gc.expire` time has passed. */
function isExpired(labels: Labels, now: bigint): boolean {
  const v = labels[GC_EXPIRE_LABEL];
  if (v === undefined) return false;
  const ms = Date.parse(v);
  if (Number.isNaN(ms)) return false;
  return BigInt(ms) * 1_000_000n <= now;
}
