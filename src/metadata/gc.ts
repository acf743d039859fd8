import type { ContentStore } from '../core/content/index.js';
import type { GcScheduler, GcStats } from '../core/gc/index.js';
import type { Logger } from '../core/log/index.js';
import type { OpContext } from '../core/namespaces/index.js';
import type { MetadataDB } from './db.js';
import {
  abortIngests,
  type GcSnapshotter,
  removeUnrecordedBlobs,
  removeUnrecordedSnapshots,
} from './gc-backends.js';
import { markAndSweep } from './gc-mark-sweep.js';
import { CollectionScheduler, type SchedulerClock } from './gc-scheduler.js';

export type { GcSnapshotter } from './gc-backends.js';
export { labelRefs } from './gc-mark-sweep.js';

export interface GcOptions {
  mdb: MetadataDB;
  /** The shared blob store the metadata records point into. */
  backend: ContentStore;
  /** Digests being committed right now (recorded in a moment: not garbage). */
  committing: () => ReadonlySet<string>;
  log: Logger;
  /**
   * The namespaced snapshotters (a {@link MetadataSnapshotter} each): their
   * records are marked and swept with the rest, and their backends lose the
   * snapshots no record names.
   */
  snapshotters?: readonly GcSnapshotter[];
  /** Delay that coalesces a burst of deletions; default {@link DEFAULT_SCHEDULE_DELAY_MS}. */
  delayMs?: number;
  /** Deletions after which the pause bound no longer delays a collection; default 0 (never). */
  deletionThreshold?: number;
  /** Largest share of time collections hold the write lock; default 0.02. */
  pauseThreshold?: number;
  /** For tests of the scheduling. */
  clock?: SchedulerClock;
}

/**
 * Delay between a deletion and its collection: the deletions of one client
 * command (`ctr run --rm` removes a container, then its snapshot) share one
 * collection. containerd's schedule_delay is 0; its ticker gives the same.
 */
export const DEFAULT_SCHEDULE_DELAY_MS = 10;

/**
 * The metadata garbage collector (`io.containerd.gc.v1` `scheduler`): a
 * {@link CollectionScheduler} decides when; a collection is the mark and
 * sweep over the records in one write transaction ({@link markAndSweep},
 * the only pause other requests see), then, outside the lock, the cleaning
 * of the backends (gc-backends.ts): expired ingests aborted, blobs no
 * namespace records deleted, snapshots no record names removed, children
 * first, followed by each snapshotter's Cleanup.
 */
export class MetadataGc implements GcScheduler {
  private readonly scheduler: CollectionScheduler;

  constructor(private readonly opts: GcOptions) {
    this.scheduler = new CollectionScheduler({
      collect: () => this.collectOnce(),
      log: opts.log,
      scheduleDelayMs: opts.delayMs ?? DEFAULT_SCHEDULE_DELAY_MS,
      ...(opts.deletionThreshold !== undefined && { deletionThreshold: opts.deletionThreshold }),
      ...(opts.pauseThreshold !== undefined && { pauseThreshold: opts.pauseThreshold }),
      ...(opts.clock !== undefined && { clock: opts.clock }),
    });
  }

  /** Notes a deletion: a collection soon, shared with the deletions around it. */
  schedule(): void {
    this.scheduler.schedule();
  }

  /** Makes a collection due in `delayMs` (the start-up run: what a crash left). */
  scheduleIn(delayMs: number): void {
    this.scheduler.scheduleIn(delayMs);
  }

  /** A collection that starts after this call; resolves when it is done. */
  collect(): Promise<GcStats> {
    return this.scheduler.collect();
  }

  /** Stops scheduling and waits for a collection in progress; for shutdown. */
  close(): Promise<void> {
    return this.scheduler.close();
  }

  private async collectOnce(): Promise<GcStats> {
    const { mdb, backend, log } = this.opts;
    const snapshotters = this.opts.snapshotters ?? [];
    const t0 = process.hrtime.bigint();
    const inFlight = new Map(snapshotters.map((sn) => [sn.name, sn.inFlight()] as const));
    const plan = mdb.update(() => markAndSweep(mdb, inFlight));
    const pauseNanos = process.hrtime.bigint() - t0;
    const { removed } = plan;
    const ctx: OpContext = { signal: new AbortController().signal, log };
    await abortIngests(ctx, backend, plan.abortRefs);
    const blobs = await removeUnrecordedBlobs(ctx, mdb, backend, plan.live, this.opts.committing);
    if (blobs > 0) removed.blobs = blobs;
    for (const sn of snapshotters) {
      const n = await removeUnrecordedSnapshots(ctx, mdb, sn, log);
      if (n > 0) removed[`snapshots/${sn.name}`] = n;
    }
    log.debug({ removed, pauseMs: Number(pauseNanos) / 1e6 }, 'gc done');
    return { removed, pauseNanos };
  }
}
