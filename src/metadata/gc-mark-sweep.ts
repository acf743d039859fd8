import {
  GC_EXPIRE_LABEL,
  GC_REF_CONTENT_PREFIX,
  GC_REF_SNAPSHOT_PREFIX,
  GC_ROOT_LABEL,
} from '../core/gc/index.js';
import type { Labels } from '../core/labels/index.js';
import { RESOURCE_CONTENT, RESOURCE_INGESTS } from '../core/leases/index.js';
import { nowNanos } from '../core/time/index.js';
import { backendRef } from './content.js';
import type { MetadataDB } from './db.js';

/** What the sweep leaves the backend cleaning to do. */
export interface SweepPlan {
  /** Every digest some namespace still records. */
  live: Set<string>;
  /** Backend refs of expired ingests to abort. */
  abortRefs: string[];
  /** Records removed, per kind (`leases`, `content`, `snapshots`, `ingests`). */
  removed: Record<string, number>;
}

/**
 * What is garbage (containerd's metadata/gc.go): mark and sweep over the
 * metadata records, per namespace. Call it inside one write transaction.
 *
 * Roots: image targets and image labels' references, resources of leases
 * that have not expired (`content`, `snapshots/<snapshotter>`), content and
 * snapshots labelled `containerd.io/gc.root`, containers' snapshots and
 * labels' references, and snapshots an operation has in flight (`inFlight`:
 * backend keys by snapshotter name). From a marked blob or snapshot,
 * `containerd.io/gc.ref.content[.|/…]` labels mark content and
 * `containerd.io/gc.ref.snapshot.<snapshotter>[/…]` labels mark snapshots;
 * a marked snapshot marks its parent. Sweep: expired leases, unmarked blob
 * and snapshot records, and expired ingests no lease holds.
 */
export function markAndSweep(
  mdb: MetadataDB,
  inFlight: ReadonlyMap<string, ReadonlySet<string>>,
): SweepPlan {
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
        mdb.prepare('DELETE FROM lease_resources WHERE namespace = ? AND lease = ?').run(ns, l.id);
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
      if (s.labels[GC_ROOT_LABEL] !== undefined || inFlight.get(s.snapshotter)?.has(s.backend_id)) {
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
      // An ingest opened under a lease has no expiry of its own: once no
      // lease holds it, it is garbage, as containerd's collector treats it.
      if (leasedIngests.has(i.ref) || (i.expires_at !== null && i.expires_at > now)) continue;
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
