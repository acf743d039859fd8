import type { ContentStore } from '../core/content/index.js';
import { isFailedPrecondition, isNotFound } from '../core/errdefs/index.js';
import {
  GC_EXPIRE_LABEL,
  GC_REF_CONTENT_PREFIX,
  GC_REF_SNAPSHOT_PREFIX,
  GC_ROOT_LABEL,
  type GcScheduler,
  type GcStats,
} from '../core/gc/index.js';
import type { Labels } from '../core/labels/index.js';
import { RESOURCE_CONTENT, RESOURCE_INGESTS } from '../core/leases/index.js';
import type { Logger } from '../core/log/index.js';
import type { OpContext } from '../core/namespaces/index.js';
import type { SnapshotInfo, Snapshotter } from '../core/snapshots/index.js';
import { nowNanos } from '../core/time/index.js';
import { backendRef } from './content.js';
import type { MetadataDB } from './db.js';

export interface GcOptions {
  mdb: MetadataDB;
  /** The shared blob store the metadata records point into. */
  backend: ContentStore;
  /** Digests being committed right now (recorded in a moment: not garbage). */
  committing: () => ReadonlySet<string>;
  log: Logger;
  /** Delay that coalesces scheduled collections; default 100 ms. */
  delayMs?: number;
  /** Deletions that trigger a collection; default {@link DEFAULT_DELETION_THRESHOLD}. */
  deletionThreshold?: number;
  /**
   * The namespaced snapshotters (a {@link MetadataSnapshotter} each): their
   * records are marked and swept with the rest, and their backends lose the
   * snapshots no record names.
   */
  snapshotters?: readonly GcSnapshotter[];
}

/** What the collector needs of a namespaced snapshotter. */
export interface GcSnapshotter {
  /** The name records and lease resources use (`snapshots/<name>`). */
  readonly name: string;
  readonly backend: Snapshotter;
  /** Backend keys operations are creating or using right now: roots, never removed. */
  inFlight(): ReadonlySet<string>;
}

/**
 * Deletions between scheduled collections, by default: containerd's
 * scheduler waits for 100 mutations after a deletion.
 */
export const DEFAULT_DELETION_THRESHOLD = 100;

interface SweepPlan {
  /** Every digest some namespace still records. */
  live: Set<string>;
  /** Backend refs of expired ingests to abort. */
  abortRefs: string[];
  removed: Record<string, number>;
}

/**
 * Mark and sweep over the metadata store, then the backends.
 *
 * Mark, per namespace, over content and snapshot records (containerd's
 * metadata/gc.go). Roots: image targets and image labels' references,
 * resources of leases that have not expired (`content`,
 * `snapshots/<snapshotter>`), content and snapshots labelled
 * `containerd.io/gc.root`, containers' snapshots and labels' references,
 * and snapshots an operation has in flight. From a marked blob or snapshot,
 * `containerd.io/gc.ref.content[.|/…]` labels mark content and
 * `containerd.io/gc.ref.snapshot.<snapshotter>[/…]` labels mark snapshots;
 * a marked snapshot marks its parent. Sweep: expired leases, unmarked blob
 * and snapshot records and expired ingests not held by a lease go.
 *
 * This runs in one write transaction (the only pause other requests see).
 * Then, outside the lock: blobs no namespace records any more are deleted
 * from the content backend, skipping digests whose commit is in flight; and
 * each snapshotter's backend loses the snapshots no record names and no
 * operation has in flight, children before parents, followed by its
 * Cleanup (directories a crash left).
 */
export class MetadataGc implements GcScheduler {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<GcStats> | undefined;
  private rerun = false;
  private deletions = 0;
  private readonly waiters: ((s: Promise<GcStats>) => void)[] = [];

  constructor(private readonly opts: GcOptions) {}

  /**
   * Notes a deletion. As containerd's scheduler does, deletions only mark
   * the store dirty: a collection runs once `deletionThreshold` of them have
   * piled up (sync deletes call {@link collect} instead), so a user's
   * unreferenced view or blob is not swept moments after an unrelated delete.
   */
  schedule(): void {
    this.deletions++;
    if (this.deletions >= (this.opts.deletionThreshold ?? DEFAULT_DELETION_THRESHOLD)) {
      this.arm(this.opts.delayMs ?? 100);
    }
  }

  /** Arms a collection in `delayMs` whatever the threshold (e.g. after start). */
  scheduleIn(delayMs: number): void {
    this.arm(delayMs);
  }

  private arm(delayMs: number): void {
    if (this.timer || this.running) {
      if (this.running) this.rerun = true;
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.start();
    }, delayMs);
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
    this.deletions = 0;
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
    for (const sn of this.opts.snapshotters ?? []) {
      const n = await this.collectBackend(ctx, sn);
      if (n > 0) plan.removed[`snapshots/${sn.name}`] = n;
    }
    const stats = { removed: plan.removed, pauseNanos };
    this.opts.log.debug({ removed: plan.removed, pauseMs: Number(pauseNanos) / 1e6 }, 'gc done');
    return stats;
  }

  /**
   * Removes from `sn`'s backend every snapshot no record names and no
   * operation has in flight, children first (a parent with a live child
   * stays: the backend refuses, and that is logged), then runs its Cleanup.
   * Returns how many were removed.
   */
  private async collectBackend(ctx: OpContext, sn: GcSnapshotter): Promise<number> {
    const infos = await sn.backend.list(ctx);
    const byName = new Set(infos.map((i) => i.name));
    const children = new Map<string, SnapshotInfo[]>();
    const roots: SnapshotInfo[] = [];
    for (const info of infos) {
      if (info.parent === '' || !byName.has(info.parent)) roots.push(info);
      else children.set(info.parent, [...(children.get(info.parent) ?? []), info]);
    }
    const recorded = this.opts.mdb.prepare(
      'SELECT 1 FROM snapshots WHERE snapshotter = ? AND backend_id = ? LIMIT 1',
    );
    let removed = 0;
    const prune = async (info: SnapshotInfo): Promise<void> => {
      for (const child of children.get(info.name) ?? []) await prune(child);
      // Checked right before the remove is issued (no await between): an
      // operation may have recorded or claimed the key since the sweep.
      if (recorded.get(sn.name, info.name) || sn.inFlight().has(info.name)) return;
      try {
        await sn.backend.remove(ctx, info.name);
        removed++;
      } catch (err) {
        if (isNotFound(err)) return;
        if (!isFailedPrecondition(err)) throw err;
        this.opts.log.warn(
          { err, snapshotter: sn.name, key: info.name },
          'failed to remove snapshot',
        );
      }
    };
    for (const root of roots) await prune(root);
    if (sn.backend.cleanup) {
      await sn.backend.cleanup(ctx).catch((err: unknown) => {
        this.opts.log.warn({ err, snapshotter: sn.name }, 'snapshotter cleanup failed');
      });
    }
    return removed;
  }

  private markAndSweep(): SweepPlan {
    const { mdb } = this.opts;
    const now = nowNanos();
    const removed: Record<string, number> = {};
    const count = (k: string, n: number) => {
      if (n > 0) removed[k] = (removed[k] ?? 0) + n;
    };
    const abortRefs: string[] = [];
    const inFlight = new Map(
      (this.opts.snapshotters ?? []).map((sn) => [sn.name, sn.inFlight()] as const),
    );
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
      /** Snapshot records by `<snapshotter>/<key>`. */
      const snapshots = new Map<string, SnapshotRecord>();
      for (const r of mdb
        .prepare(
          'SELECT snapshotter, key, backend_id, parent, labels FROM snapshots WHERE namespace = ?',
        )
        .all(ns) as (SnapshotRecord & { labels: string })[]) {
        snapshots.set(`${r.snapshotter}/${r.key}`, {
          ...r,
          labels: JSON.parse(r.labels) as Labels,
        });
      }
      const marked = new Set<string>();
      const markedSnapshots = new Set<string>();
      const queue: string[] = [];
      const snapshotQueue: string[] = [];
      const mark = (d: string) => {
        if (!marked.has(d) && blobs.has(d)) {
          marked.add(d);
          queue.push(d);
        }
      };
      const markSnapshot = (ref: string) => {
        if (!markedSnapshots.has(ref) && snapshots.has(ref)) {
          markedSnapshots.add(ref);
          snapshotQueue.push(ref);
        }
      };
      const markRefs = (labels: Labels) => labelRefs(labels, mark, markSnapshot);

      for (const r of mdb
        .prepare('SELECT target_digest, labels FROM images WHERE namespace = ?')
        .all(ns) as {
        target_digest: string;
        labels: string;
      }[]) {
        mark(r.target_digest);
        markRefs(JSON.parse(r.labels) as Labels);
      }
      const leased = mdb
        .prepare('SELECT type, id FROM lease_resources WHERE namespace = ?')
        .all(ns) as { type: string; id: string }[];
      const leasedIngests = new Set<string>();
      for (const r of leased) {
        if (r.type === RESOURCE_CONTENT) mark(r.id);
        else if (r.type === RESOURCE_INGESTS) leasedIngests.add(r.id);
        else if (r.type.startsWith(RESOURCE_SNAPSHOTS_PREFIX)) {
          markSnapshot(`${r.type.slice(RESOURCE_SNAPSHOTS_PREFIX.length)}/${r.id}`);
        }
      }
      for (const [d, labels] of blobs) if (labels[GC_ROOT_LABEL] !== undefined) mark(d);
      for (const [ref, s] of snapshots) {
        if (
          s.labels[GC_ROOT_LABEL] !== undefined ||
          inFlight.get(s.snapshotter)?.has(s.backend_id)
        ) {
          markSnapshot(ref);
        }
      }
      markContainerRoots(mdb, ns, markSnapshot, markRefs);
      while (queue.length > 0 || snapshotQueue.length > 0) {
        const d = queue.pop();
        if (d !== undefined) {
          markRefs(blobs.get(d) ?? {});
          continue;
        }
        const s = snapshots.get(snapshotQueue.pop()!);
        if (!s) continue;
        if (s.parent !== '') markSnapshot(`${s.snapshotter}/${s.parent}`);
        markRefs(s.labels);
      }

      let swept = 0;
      for (const d of blobs.keys()) {
        if (marked.has(d)) continue;
        mdb.prepare('DELETE FROM content_blobs WHERE namespace = ? AND digest = ?').run(ns, d);
        swept++;
      }
      count('content', swept);

      let sweptSnapshots = 0;
      for (const [ref, s] of snapshots) {
        if (markedSnapshots.has(ref)) continue;
        mdb
          .prepare('DELETE FROM snapshots WHERE namespace = ? AND snapshotter = ? AND key = ?')
          .run(ns, s.snapshotter, s.key);
        sweptSnapshots++;
      }
      count('snapshots', sweptSnapshots);

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

interface SnapshotRecord {
  snapshotter: string;
  key: string;
  backend_id: string;
  parent: string;
  labels: Labels;
}

/** Lease resource types for snapshots are `snapshots/<snapshotter>`. */
const RESOURCE_SNAPSHOTS_PREFIX = 'snapshots/';

/**
 * Calls `content` for every `containerd.io/gc.ref.content` label (the bare
 * key, or followed by `.` or `/` and a name) and `snapshot` with
 * `<snapshotter>/<key>` for every `containerd.io/gc.ref.snapshot.<snapshotter>`
 * label (optionally followed by `/` and a name), as containerd's
 * `sendLabelRefs`.
 */
export function labelRefs(
  labels: Labels,
  content: (digest: string) => void,
  snapshot: (ref: string) => void,
): void {
  for (const [k, v] of Object.entries(labels)) {
    if (k.startsWith(GC_REF_CONTENT_PREFIX)) {
      const next = k.charAt(GC_REF_CONTENT_PREFIX.length);
      if (next === '' || next === '.' || next === '/') content(v);
    } else if (k.startsWith(GC_REF_SNAPSHOT_PREFIX)) {
      const snapshotter = k.slice(GC_REF_SNAPSHOT_PREFIX.length).split('/')[0] ?? '';
      if (snapshotter !== '') snapshot(`${snapshotter}/${v}`);
    }
  }
}

/**
 * Containers are roots: their snapshot (`snapshotter`, `snapshot_key`) and
 * what their labels reference, as in containerd. Rows are written by
 * `SqliteContainerStore` (containers.ts), whose deletes schedule a collection.
 */
function markContainerRoots(
  mdb: MetadataDB,
  ns: string,
  snapshot: (ref: string) => void,
  refs: (labels: Labels) => void,
): void {
  const rows = mdb
    .prepare('SELECT snapshotter, snapshot_key, labels FROM containers WHERE namespace = ?')
    .all(ns) as { snapshotter: string; snapshot_key: string; labels: string }[];
  for (const c of rows) {
    if (c.snapshotter !== '' && c.snapshot_key !== '')
      snapshot(`${c.snapshotter}/${c.snapshot_key}`);
    refs(JSON.parse(c.labels) as Labels);
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
