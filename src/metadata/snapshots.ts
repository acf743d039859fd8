import {
  alreadyExists,
  failedPrecondition,
  invalidArgument,
  isAlreadyExists,
  isNotFound,
  notFound,
  notImplemented,
  unknown as unknownError,
} from '../core/errdefs/index.js';
import { parseFilters } from '../core/filters/index.js';
import { applyLabelPaths, type Labels, validateLabels } from '../core/labels/index.js';
import type { Mount } from '../core/mount/index.js';
import { namespaceRequired, type OpContext } from '../core/namespaces/index.js';
import type {
  Kind,
  SnapshotInfo,
  SnapshotOptions,
  Snapshotter,
  Usage,
} from '../core/snapshots/index.js';
import { snapshotAdaptor } from '../core/snapshots/index.js';
import { nowNanos } from '../core/time/index.js';
import type { MetadataDB } from './db.js';
import { KeyedLock } from './keyed-lock.js';
import { addLeaseResourceTx, removeLeaseResourceTx } from './leases.js';
import { ensureNamespace } from './namespaces.js';
import { type Extraction, SnapshotExtractions } from './snapshot-extractions.js';

/** Labels the backend keeps too (containerd's `FilterInheritedLabels`). */
const INHERITED_PREFIX = 'containerd.io/snapshot/';
/** A remote snapshotter's target; an existing key of that name is `already_exists`. */
const LABEL_SNAPSHOT_REF = 'containerd.io/snapshot.ref';
/** How many new backend keys a create tries before it calls the backend confused. */
const KEY_ATTEMPTS = 3;
/** containerd's `snapshots.UnpackKeyFormat` (`extract-<unique> <chain ID>`): the target it names. */
const UNPACK_KEY = /^extract-\S+ (\S+)$/;
/** What a chain ID looks like: a Stat that misses one claims its extraction. */
const CHAIN_ID = /^sha256:[0-9a-f]{64}$/;
/**
 * How long a Stat's claim on a missing chain ID makes other namespaces wait
 * for its Prepare (an unpacker calls it right after the Stat).
 */
const CLAIM_MS = 2_000;

interface Row {
  key: string;
  backend_id: string;
  parent: string;
  kind: Kind;
  labels: string;
  created_at: bigint;
  updated_at: bigint;
}

const SELECT_ROW =
  'SELECT key, backend_id, parent, kind, labels, created_at, updated_at FROM snapshots';

/** What a namespace's record of a shared target points at. */
interface SharedSource {
  backend_id: string;
  parent: string;
  /** The parent's backend key ('' for a base layer). */
  bparent: string;
}

/**
 * What one look of {@link MetadataSnapshotter.share} found: the target
 * recorded from another namespace; nothing to record yet (extractions on the
 * backend parent `wanted` may be waited for: undefined for a Stat's, any
 * parent the namespace has); or nothing to do (the namespace has the target
 * or lacks the parent).
 */
type ShareLook = { recorded: string } | { wanted: string | undefined } | 'none';

/**
 * The namespaced snapshotter over one backend, as containerd's
 * metadata/snapshot.go: records per namespace in the metadata DB's
 * `snapshots` table (key, backend key, parent, kind, labels, times); the
 * backend sees keys `<namespace>/<seq>/<key>` (`seq` from
 * `snapshot_sequences`), so the same key can live in several namespaces.
 *
 * - A call with a `containerd-lease` header puts what it creates
 *   (`snapshots/<snapshotter>` resource, the key or the committed name)
 *   under that lease; Commit and Remove take the key off it.
 * - Only labels under `containerd.io/snapshot/` and
 *   `containerd.io/snapshot.ref` reach the backend; Stat and List merge the
 *   backend's labels under the record's.
 * - Remove refuses a snapshot with children, deletes the record, then the
 *   backend snapshot (containerd leaves that to the collector), and
 *   schedules garbage collection, as containerd's dirty flag does: what
 *   only the removed snapshot kept alive goes, and so do snapshots nothing
 *   roots (a `ctr snapshots view` has no `gc.root` label).
 *
 * Ordering: a create allocates its backend key in one transaction, calls
 * the backend, and records the snapshot in a second; a commit does the
 * same around the backend commit. A create's allocation is not fsynced
 * (the record's commit is, and syncs it too), so after a power cut in
 * between, a key may come again that the backend still holds (an orphan);
 * the create then takes the next one. Operations on one key (and the name
 * a commit makes) are serialised in process. While they run, their backend
 * keys (and the parent's) are {@link MetadataSnapshotter.inFlight}, which
 * garbage collection treats as roots and never removes. A crash between
 * the backend call and the record leaves a backend snapshot without a
 * record, which the next collection removes.
 *
 * Each layer is unpacked once across namespaces. A commit of an active
 * snapshot whose target (its `containerd.io/snapshot.ref` label, else the
 * chain ID its `extract-<unique> <chain ID>` key names) is the committed
 * name records that target. Another namespace asking for the same target on
 * the same backend parent then records that backend snapshot too (no copy),
 * as containerd's metadata snapshotter records a target a remote backend
 * already has:
 * - a Prepare or View labelled with the target answers `already_exists`
 *   ("target snapshot … from snapshotter") once the target is recorded
 *   under its name, so the unpacker skips Apply (containerd 1.7's, berth's);
 * - a Stat of a missing target does the same and answers its info: ctr
 *   1.6's unpack labels nothing and retries a Prepare's `already_exists`
 *   with a new key forever, but it Stats each chain ID first and skips a
 *   layer it finds.
 * While another namespace extracts that target (an active snapshot on the
 * same backend parent, or a Stat that just missed it, for at most
 * {@link CLAIM_MS}), both wait for it to end, then share its result or, if
 * it was removed, carry on (a Stat claims the extraction for its own
 * namespace). A record's parent must be in the namespace with the same
 * backend key, so the whole chain is shared layer by layer. A backend
 * snapshot goes only with the last record naming it (Remove and the
 * collector check every namespace). Waits end with the call's signal.
 */
export class MetadataSnapshotter implements Snapshotter {
  private readonly locks = new KeyedLock();
  private readonly busy = new Map<string, number>();
  private readonly extractions = new SnapshotExtractions();
  /** This process's extractions, by lockKey(namespace, active key). */
  private readonly extracting = new Map<string, Extraction>();

  constructor(
    private readonly mdb: MetadataDB,
    /** The snapshotter's name, `overlayfs` or `native`. */
    readonly name: string,
    readonly backend: Snapshotter,
    /** Called when something is left for garbage collection to remove. */
    private readonly onDelete: () => void = () => {},
  ) {}

  /** Backend keys that operations in flight are creating or using. */
  inFlight(): ReadonlySet<string> {
    return new Set(this.busy.keys());
  }

  async stat(ctx: OpContext, key: string): Promise<SnapshotInfo> {
    const ns = namespaceRequired(ctx);
    const row = this.row(ns, key) ?? (await this.statShared(ctx, ns, key));
    return overlayInfo(await this.backend.stat(ctx, row.backend_id), row);
  }

  async update(
    ctx: OpContext,
    info: Pick<SnapshotInfo, 'name' | 'labels'>,
    fieldpaths?: readonly string[],
  ): Promise<SnapshotInfo> {
    const ns = namespaceRequired(ctx);
    if (!info.name) throw invalidArgument('snapshot name must not be empty');
    const { otherPaths } = applyLabelPaths({}, {}, fieldpaths);
    const [bad] = otherPaths;
    if (bad !== undefined) {
      throw invalidArgument(
        `cannot update ${JSON.stringify(bad)} field on snapshot ${JSON.stringify(info.name)}`,
      );
    }
    return this.locks.run([lockKey(ns, info.name)], async () => {
      const row = this.mustRow(ns, info.name);
      const { labels } = applyLabelPaths(parseLabels(row.labels), info.labels ?? {}, fieldpaths);
      validateLabels(labels, 'snapshot');
      const binfo = await this.holding([row.backend_id], () =>
        this.backend.update(ctx, { name: row.backend_id, labels: inherited(labels) }, fieldpaths),
      );
      const updatedAt = nowNanos();
      this.mdb.update(() => {
        const r = this.mdb
          .prepare(
            `UPDATE snapshots SET labels = ?, updated_at = ?
             WHERE namespace = ? AND snapshotter = ? AND key = ?`,
          )
          .run(JSON.stringify(labels), updatedAt, ns, this.name, info.name);
        if (r.changes === 0) throw notFound(`snapshot ${info.name} does not exist`);
      });
      return overlayInfo(binfo, {
        ...row,
        labels: JSON.stringify(labels),
        updated_at: updatedAt,
      });
    });
  }

  async usage(ctx: OpContext, key: string): Promise<Usage> {
    const ns = namespaceRequired(ctx);
    return this.backend.usage(ctx, this.mustRow(ns, key).backend_id);
  }

  async mounts(ctx: OpContext, key: string): Promise<Mount[]> {
    const ns = namespaceRequired(ctx);
    return this.backend.mounts(ctx, this.mustRow(ns, key).backend_id);
  }

  prepare(ctx: OpContext, key: string, parent = '', opts?: SnapshotOptions): Promise<Mount[]> {
    return this.create(ctx, 'active', key, parent, opts);
  }

  view(ctx: OpContext, key: string, parent = '', opts?: SnapshotOptions): Promise<Mount[]> {
    return this.create(ctx, 'view', key, parent, opts);
  }

  async commit(ctx: OpContext, name: string, key: string, opts?: SnapshotOptions): Promise<void> {
    const ns = namespaceRequired(ctx);
    const labels = withoutEmpty(opts?.labels ?? {});
    validateLabels(labels, 'snapshot');
    if (!name) throw invalidArgument('snapshot name must not be empty');
    await this.locks.run([lockKey(ns, key), lockKey(ns, name)], async () => {
      try {
        await this.commitLocked(ctx, ns, name, key, labels);
      } finally {
        // Committed or not, waiters look again (an active left behind is
        // removed by its unpacker, or by the collector).
        this.endExtraction(ns, key);
      }
    });
  }

  private async commitLocked(
    ctx: OpContext,
    ns: string,
    name: string,
    key: string,
    labels: Labels,
  ): Promise<void> {
    const { row, nameKey } = this.mdb.update(() => {
      const row = this.mustRow(ns, key);
      if (this.row(ns, name)) throw alreadyExists(`snapshot ${JSON.stringify(name)}`);
      if (row.kind !== 'active') {
        throw failedPrecondition(`snapshot ${JSON.stringify(key)} is not active`);
      }
      if (ctx.lease) this.checkLease(ns, ctx.lease);
      return { row, nameKey: this.backendKey(ns, name) };
    });
    await this.holding([row.backend_id, nameKey], async () => {
      await this.backend.commit(ctx, nameKey, row.backend_id, { labels: inherited(labels) });
      try {
        this.mdb.update(() => {
          const now = nowNanos();
          const target = targetOf(row.key, parseLabels(row.labels)) === name ? name : '';
          this.insert(ns, name, nameKey, row.parent, 'committed', labels, now, target);
          this.mdb
            .prepare('DELETE FROM snapshots WHERE namespace = ? AND snapshotter = ? AND key = ?')
            .run(ns, this.name, key);
          if (ctx.lease) {
            addLeaseResourceTx(this.mdb, ns, ctx.lease, this.resource(name));
            removeLeaseResourceTx(this.mdb, ns, ctx.lease, this.resource(key));
          }
        });
      } catch (err) {
        ctx.log.error(
          { err, snapshotter: this.name, key, bname: nameKey },
          'uncommittable snapshot: transaction failed after commit, snapshot should be removed',
        );
        this.onDelete();
        throw err;
      }
    });
  }

  private endExtraction(ns: string, key: string): void {
    const ext = this.extracting.get(lockKey(ns, key));
    if (!ext) return;
    this.extracting.delete(lockKey(ns, key));
    this.extractions.end(ext);
  }

  async remove(ctx: OpContext, key: string): Promise<void> {
    const ns = namespaceRequired(ctx);
    await this.locks.run([lockKey(ns, key)], async () => {
      this.endExtraction(ns, key);
      const { row, shared } = this.mdb.update(() => {
        const row = this.mustRow(ns, key);
        const child = this.mdb
          .prepare(
            'SELECT 1 FROM snapshots WHERE namespace = ? AND snapshotter = ? AND parent = ? LIMIT 1',
          )
          .get(ns, this.name, key);
        if (child) throw failedPrecondition('cannot remove snapshot with child');
        this.mdb
          .prepare('DELETE FROM snapshots WHERE namespace = ? AND snapshotter = ? AND key = ?')
          .run(ns, this.name, key);
        if (ctx.lease) removeLeaseResourceTx(this.mdb, ns, ctx.lease, this.resource(key));
        // Another namespace's record of the same backend snapshot keeps it.
        const shared = this.mdb
          .prepare('SELECT 1 FROM snapshots WHERE snapshotter = ? AND backend_id = ? LIMIT 1')
          .get(this.name, row.backend_id);
        return { row, shared: shared !== undefined };
      });
      try {
        if (!shared) await this.backend.remove(ctx, row.backend_id);
      } catch (err) {
        if (!isNotFound(err)) {
          ctx.log.warn(
            { err, snapshotter: this.name, key: row.backend_id },
            'failed to remove backend snapshot; garbage collection will retry',
          );
        }
      }
      // As in containerd, a removal makes the store dirty: a collection follows.
      this.onDelete();
    });
  }

  async list(ctx: OpContext, filters?: readonly string[]): Promise<SnapshotInfo[]> {
    const ns = namespaceRequired(ctx);
    const filter = parseFilters(filters ?? []);
    const rows = this.mdb
      .prepare(`${SELECT_ROW} WHERE namespace = ? AND snapshotter = ? ORDER BY key`)
      .safeIntegers(true)
      .all(ns, this.name) as Row[];
    if (rows.length === 0) return [];
    const backend = new Map((await this.backend.list(ctx)).map((i) => [i.name, i]));
    const out: SnapshotInfo[] = [];
    for (const row of rows) {
      const binfo = backend.get(row.backend_id);
      // A record whose backend snapshot is gone is skipped, as containerd does.
      if (!binfo) continue;
      const info = overlayInfo(binfo, row);
      if (filter.match(snapshotAdaptor(info))) out.push(info);
    }
    return out;
  }

  /** The backend's Cleanup (containerd's metadata snapshotter passes it through). */
  async cleanup(ctx: OpContext): Promise<void> {
    namespaceRequired(ctx);
    if (!this.backend.cleanup) {
      throw notImplemented('snapshotter does not implement Cleanup method');
    }
    await this.backend.cleanup(ctx);
  }

  /**
   * A Stat of a key the namespace lacks: an unpack target another namespace
   * has (or is extracting) on a parent this namespace has too is recorded
   * here and returned; else `not_found`, and a missing chain ID is claimed
   * for this namespace's extraction.
   */
  private statShared(ctx: OpContext, ns: string, key: string): Promise<Row> {
    return this.locks.run([lockKey(ns, key)], async () => {
      await this.share(ctx, ns, key, undefined, {}, CHAIN_ID.test(key));
      return this.mustRow(ns, key);
    });
  }

  /**
   * Records `target`, committed by an unpack in another namespace on the
   * same backend parent, in `ns` under its name, pointing at the same
   * backend snapshot; waits first while another namespace extracts it.
   * `parent` is the parent key in `ns` (a Prepare's), or undefined for any
   * parent `ns` has under the source's parent key with the same backend key
   * (a Stat's). Returns whether it recorded the target. With `claim`, a
   * target nobody extracts is claimed for `ns`.
   */
  private async share(
    ctx: OpContext,
    ns: string,
    target: string,
    parent: string | undefined,
    labels: Labels,
    claim: boolean,
  ): Promise<boolean> {
    for (;;) {
      // Looked at read-only first: most looks (a Stat that misses) record nothing.
      const attempt = (record: boolean): ShareLook => {
        if (this.row(ns, target)) return 'none';
        let wanted: string | undefined;
        if (parent !== undefined && parent !== '') {
          wanted = this.row(ns, parent)?.backend_id;
          // A missing parent: the create answers not_found (unpackers recurse on it).
          if (wanted === undefined) return 'none';
        } else if (parent === '') {
          wanted = '';
        }
        const src = this.sharedSources(ns, target).find((s) =>
          this.parentMatches(ns, s.parent, s.bparent, wanted),
        );
        if (!src) return { wanted };
        if (!record) return { recorded: src.backend_id };
        if (ctx.lease) this.checkLease(ns, ctx.lease);
        ensureNamespace(this.mdb, ns);
        this.insert(
          ns,
          target,
          src.backend_id,
          parent ?? src.parent,
          'committed',
          labels,
          nowNanos(),
          target,
        );
        if (ctx.lease) addLeaseResourceTx(this.mdb, ns, ctx.lease, this.resource(target));
        return { recorded: src.backend_id };
      };
      let look = this.mdb.view(() => attempt(false));
      if (typeof look === 'object' && 'recorded' in look)
        look = this.mdb.update(() => attempt(true));
      if (look === 'none') return false;
      if ('recorded' in look) {
        ctx.log.debug(
          { snapshotter: this.name, key: target, bkey: look.recorded },
          'snapshot unpacked in another namespace recorded',
        );
        return true;
      }
      const { wanted } = look;
      const busy = this.extractions
        .elsewhere(ns, target)
        .filter(
          (e) =>
            e.parent === undefined || this.parentMatches(ns, e.parent.key, e.parent.bkey, wanted),
        );
      if (busy.length === 0) {
        if (claim) this.extractions.claim(ns, target, CLAIM_MS);
        return false;
      }
      await SnapshotExtractions.waitAny(busy, target, ctx.signal);
    }
  }

  /** Committed unpack targets named `target` in other namespaces, with their backend parents. */
  private sharedSources(ns: string, target: string): SharedSource[] {
    return this.mdb
      .prepare(
        `SELECT s.backend_id, s.parent, COALESCE(p.backend_id, '') AS bparent
         FROM snapshots s LEFT JOIN snapshots p
           ON p.namespace = s.namespace AND p.snapshotter = s.snapshotter AND p.key = s.parent
         WHERE s.snapshotter = ? AND s.target = ? AND s.kind = 'committed' AND s.namespace != ?
           AND (s.parent = '' OR p.backend_id IS NOT NULL)`,
      )
      .all(this.name, target, ns) as SharedSource[];
  }

  /**
   * Whether a snapshot on `srcParent` (backend `srcBparent`) may be
   * recorded in `ns`: on the backend parent `wanted` (a Prepare's parent),
   * or, with none wanted (a Stat), if `ns` has `srcParent` on the same
   * backend snapshot.
   */
  private parentMatches(
    ns: string,
    srcParent: string,
    srcBparent: string,
    wanted: string | undefined,
  ): boolean {
    if (wanted !== undefined) return srcBparent === wanted;
    return srcBparent === '' || this.row(ns, srcParent)?.backend_id === srcBparent;
  }

  private async create(
    ctx: OpContext,
    kind: Kind,
    key: string,
    parent: string,
    opts: SnapshotOptions | undefined,
  ): Promise<Mount[]> {
    const ns = namespaceRequired(ctx);
    const labels = withoutEmpty(opts?.labels ?? {});
    validateLabels(labels, 'snapshot');
    if (!key) throw invalidArgument('snapshot key must not be empty');
    const labelTarget = labels[LABEL_SNAPSHOT_REF] ?? '';
    const target = labelTarget || (kind === 'active' ? (UNPACK_KEY.exec(key)?.[1] ?? '') : '');
    return this.locks.run([lockKey(ns, key)], async () => {
      if (labelTarget !== '') {
        if (await this.share(ctx, ns, labelTarget, parent, labels, false)) {
          throw alreadyExists(`target snapshot ${JSON.stringify(labelTarget)} from snapshotter`);
        }
      }
      for (let attempt = 1; ; attempt++) {
        // Unsynced: the synced commit of the record follows (see the class).
        const { bkey, bparent } = this.mdb.updateUnsynced(() => {
          ensureNamespace(this.mdb, ns);
          const target = labels[LABEL_SNAPSHOT_REF];
          if (target && this.row(ns, target)) {
            throw alreadyExists(`target snapshot ${JSON.stringify(target)}`);
          }
          if (this.row(ns, key)) throw alreadyExists(`snapshot ${JSON.stringify(key)}`);
          let bparent = '';
          if (parent) {
            const p = this.row(ns, parent);
            if (!p) throw notFound(`parent snapshot ${parent} does not exist`);
            bparent = p.backend_id;
          }
          if (ctx.lease) this.checkLease(ns, ctx.lease);
          return { bkey: this.backendKey(ns, key), bparent };
        });
        const mounts = await this.holding([bkey, bparent], async () => {
          const bopts = { labels: inherited(labels) };
          let mounts: Mount[];
          try {
            mounts =
              kind === 'view'
                ? await this.backend.view(ctx, bkey, bparent, bopts)
                : await this.backend.prepare(ctx, bkey, bparent, bopts);
          } catch (err) {
            if (!isAlreadyExists(err)) throw err;
            if (attempt < KEY_ATTEMPTS) return undefined;
            throw unknownError(`unexpected error from snapshotter: ${(err as Error).message}`, {
              cause: err,
            });
          }
          try {
            // Synced below, outside the undo: a failed sync leaves the record.
            this.mdb.updateUnsynced(() => {
              if (this.row(ns, key)) throw alreadyExists(`snapshot ${JSON.stringify(key)}`);
              if (parent) {
                const p = this.row(ns, parent);
                if (!p) throw notFound(`parent snapshot ${parent} does not exist`);
                if (p.backend_id !== bparent) {
                  throw invalidArgument(`mismatched parent ${parent} from target`);
                }
              }
              this.insert(ns, key, bkey, parent, kind, labels, nowNanos());
              if (ctx.lease) addLeaseResourceTx(this.mdb, ns, ctx.lease, this.resource(key));
            });
            if (target !== '' && kind === 'active') {
              const ext = this.extractions.begin(ns, target, { key: parent, bkey: bparent });
              this.extracting.set(lockKey(ns, key), ext);
            }
          } catch (err) {
            // Not recorded: the backend snapshot must not outlive the call.
            await this.backend.remove(ctx, bkey).catch((rerr: unknown) => {
              ctx.log.error(
                { err: rerr, snapshotter: this.name, key: bkey },
                'failed to cleanup unreferenced snapshot',
              );
              this.onDelete();
            });
            throw err;
          }
          await this.mdb.syncWal();
          return mounts;
        });
        if (mounts) return mounts;
      }
    });
  }

  /** Runs `fn` with backend keys marked in flight (garbage collection leaves them). */
  private async holding<T>(bkeys: readonly string[], fn: () => Promise<T>): Promise<T> {
    const keys = bkeys.filter((k) => k !== '');
    for (const k of keys) this.busy.set(k, (this.busy.get(k) ?? 0) + 1);
    try {
      return await fn();
    } finally {
      for (const k of keys) {
        const n = (this.busy.get(k) ?? 1) - 1;
        if (n <= 0) this.busy.delete(k);
        else this.busy.set(k, n);
      }
    }
  }

  /** A new backend key `<ns>/<seq>/<key>` (inside the caller's transaction). */
  private backendKey(ns: string, key: string): string {
    const row = this.mdb
      .prepare(
        `INSERT INTO snapshot_sequences (namespace, snapshotter, seq) VALUES (?, ?, 1)
         ON CONFLICT (namespace, snapshotter) DO UPDATE SET seq = seq + 1 RETURNING seq`,
      )
      .get(ns, this.name) as { seq: number };
    return `${ns}/${row.seq}/${key}`;
  }

  private insert(
    ns: string,
    key: string,
    bkey: string,
    parent: string,
    kind: Kind,
    labels: Labels,
    now: bigint,
    target = '',
  ): void {
    this.mdb
      .prepare(
        `INSERT INTO snapshots (namespace, snapshotter, key, backend_id, parent, kind, labels,
         created_at, updated_at, target) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(ns, this.name, key, bkey, parent, kind, JSON.stringify(labels), now, now, target);
  }

  /** Throws `not_found` for an unknown lease, as adding to it later would. */
  private checkLease(ns: string, lease: string): void {
    const hit = this.mdb
      .prepare('SELECT 1 FROM leases WHERE namespace = ? AND id = ?')
      .get(ns, lease);
    if (!hit) throw notFound(`lease ${JSON.stringify(lease)}`);
  }

  private resource(key: string) {
    return { type: `snapshots/${this.name}`, id: key };
  }

  private row(ns: string, key: string): Row | undefined {
    return this.mdb
      .prepare(`${SELECT_ROW} WHERE namespace = ? AND snapshotter = ? AND key = ?`)
      .safeIntegers(true)
      .get(ns, this.name, key) as Row | undefined;
  }

  private mustRow(ns: string, key: string): Row {
    const row = this.row(ns, key);
    if (!row) throw notFound(`snapshot ${key} does not exist`);
    return row;
  }
}

/** The backend's info seen through the record (containerd's `overlayInfo`). */
function overlayInfo(binfo: SnapshotInfo, row: Row): SnapshotInfo {
  return {
    name: row.key,
    parent: row.parent,
    kind: binfo.kind,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    labels: { ...binfo.labels, ...parseLabels(row.labels) },
  };
}

/** containerd's `snapshots.FilterInheritedLabels`. */
function inherited(labels: Labels): Labels {
  const out: Labels = {};
  for (const [k, v] of Object.entries(labels)) {
    if (k === LABEL_SNAPSHOT_REF || k.startsWith(INHERITED_PREFIX)) out[k] = v;
  }
  return out;
}

/** The target an active snapshot is extracted as: its ref label, else what its unpack key names. */
function targetOf(key: string, labels: Labels): string {
  return labels[LABEL_SNAPSHOT_REF] || (UNPACK_KEY.exec(key)?.[1] ?? '');
}

function lockKey(ns: string, key: string): string {
  return `${ns}\0${key}`;
}

function parseLabels(json: string): Labels {
  return JSON.parse(json) as Labels;
}

function withoutEmpty(labels: Labels): Labels {
  const out: Labels = {};
  for (const [k, v] of Object.entries(labels)) if (v !== '') out[k] = v;
  return out;
}
