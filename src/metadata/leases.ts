import { validateDigest } from '../core/content/index.js';
import { alreadyExists, invalidArgument, notFound, notImplemented } from '../core/errdefs/index.js';
import { type Adaptor, fieldsAdaptor, parseFilters } from '../core/filters/index.js';
import type { GcScheduler } from '../core/gc/index.js';
import { type Labels, validateLabels } from '../core/labels/index.js';
import {
  LEASE_EXPIRE_LABEL,
  type Lease,
  type LeaseManager,
  type LeaseResource,
  RESOURCE_CONTENT,
  RESOURCE_INGESTS,
} from '../core/leases/index.js';
import { namespaceRequired, type OpContext } from '../core/namespaces/index.js';
import { nowNanos } from '../core/time/index.js';
import type { MetadataDB } from './db.js';
import { ensureNamespace } from './namespaces.js';

/** The resource type prefix for snapshots: `snapshots/<snapshotter>`. */
const RESOURCE_SNAPSHOTS = 'snapshots';

/** Longest lease id berth accepts (containerd sets no bound). */
export const MAX_LEASE_ID_LENGTH = 256;

const LEASE_ID = /^[\x21-\x7e]+$/;

interface Row {
  id: string;
  labels: string;
  created_at: bigint;
}

/**
 * {@link LeaseManager} on the metadata database, with containerd's rules
 * (metadata/leases.go):
 *
 * - Lease ids are not identifiers: containerd takes any non-empty id, and
 *   its Go client's random ids (`<nanos>-<base64url>`) may hold `_`, `-`
 *   and runs of them. berth takes 1 to 256 visible ASCII characters, so an
 *   id always fits the `containerd-lease` header.
 * - Labels are free, `containerd.io/gc.expire` included (garbage collection
 *   reads it); empty values are not stored.
 * - Resources: `content` (the id must be a digest), `ingests` (an ingest
 *   ref) and `snapshots/<snapshotter>` (a snapshot key). Other types are
 *   `not_implemented`, as in containerd. Adding a resource twice is a no-op,
 *   deleting one the lease does not hold too.
 * - Deleting a lease (or one of its resources) schedules garbage
 *   collection; a `sync` delete waits for a collection to finish.
 * - Creating a lease brings its namespace into being.
 */
export class SqliteLeaseManager implements LeaseManager {
  constructor(
    private readonly mdb: MetadataDB,
    private readonly gc: GcScheduler,
  ) {}

  async create(ctx: OpContext, lease: { id: string; labels?: Labels }): Promise<Lease> {
    const ns = namespaceRequired(ctx);
    validateLeaseId(lease.id);
    const labels = withoutEmpty(lease.labels ?? {});
    validateLabels(labels, 'lease');
    // Not fsynced: what goes under a lease is recorded by later commits of
    // this database, and the first synced one syncs the lease with it (WAL
    // order), so a power cut that loses the lease loses nothing recorded
    // under it. It survives kill -9 either way.
    return this.mdb.updateUnsynced(() => {
      ensureNamespace(this.mdb, ns);
      if (leaseExists(this.mdb, ns, lease.id)) {
        throw alreadyExists(`lease ${JSON.stringify(lease.id)}`);
      }
      const createdAt = nowNanos();
      this.mdb
        .prepare('INSERT INTO leases (namespace, id, labels, created_at) VALUES (?, ?, ?, ?)')
        .run(ns, lease.id, JSON.stringify(labels), createdAt);
      return { id: lease.id, labels, createdAt };
    });
  }

  async delete(ctx: OpContext, id: string, opts: { sync?: boolean } = {}): Promise<void> {
    const ns = namespaceRequired(ctx);
    // A lease that expires by itself (CRI's, the Go client's) is deleted
    // without an fsync: a power cut may bring it back, and it still expires
    // (the collection that follows the delete usually syncs it first). Any
    // other lease would come back for good, so its delete is synced.
    const expires = this.mdb.view(() => expireLabelOf(this.mdb, ns, id) !== undefined);
    const del = () => {
      // lease_resources go with it (ON DELETE CASCADE).
      const res = this.mdb.prepare('DELETE FROM leases WHERE namespace = ? AND id = ?').run(ns, id);
      if (res.changes === 0) throw leaseNotFound(id);
    };
    if (expires) this.mdb.updateUnsynced(del);
    else await this.mdb.updateDurable(del);
    if (opts.sync) await this.gc.collect();
    else this.gc.schedule();
  }

  async list(ctx: OpContext, filters: readonly string[] = []): Promise<Lease[]> {
    const ns = namespaceRequired(ctx);
    const filter = parseFilters(filters);
    const rows = this.mdb
      .prepare('SELECT id, labels, created_at FROM leases WHERE namespace = ? ORDER BY id')
      .safeIntegers(true)
      .all(ns) as Row[];
    return rows.map(fromRow).filter((lease) => filter.match(leaseAdaptor(lease)));
  }

  async addResource(ctx: OpContext, id: string, resource: LeaseResource): Promise<void> {
    const ns = namespaceRequired(ctx);
    this.mdb.update(() => addLeaseResourceTx(this.mdb, ns, id, resource));
  }

  async deleteResource(ctx: OpContext, id: string, resource: LeaseResource): Promise<void> {
    const ns = namespaceRequired(ctx);
    const removed = this.mdb.update(() => {
      if (!leaseExists(this.mdb, ns, id)) throw leaseNotFound(id);
      return removeResource(this.mdb, ns, id, parseLeaseResource(resource));
    });
    if (removed) this.gc.schedule();
  }

  async listResources(ctx: OpContext, id: string): Promise<LeaseResource[]> {
    const ns = namespaceRequired(ctx);
    return this.mdb.view(() => {
      if (!leaseExists(this.mdb, ns, id)) throw leaseNotFound(id);
      // containerd's order: content, ingests, then snapshots by snapshotter.
      return this.mdb
        .prepare(
          `SELECT id, type FROM lease_resources WHERE namespace = ? AND lease = ?
           ORDER BY CASE type WHEN 'content' THEN 0 WHEN 'ingests' THEN 1 ELSE 2 END, type, id`,
        )
        .all(ns, id) as LeaseResource[];
    });
  }
}

/** The lease's `containerd.io/gc.expire` label, if it exists and has one. */
function expireLabelOf(mdb: MetadataDB, namespace: string, id: string): string | undefined {
  const row = mdb
    .prepare('SELECT labels FROM leases WHERE namespace = ? AND id = ?')
    .get(namespace, id) as { labels: string } | undefined;
  if (row === undefined) return undefined;
  return (JSON.parse(row.labels) as Labels)[LEASE_EXPIRE_LABEL];
}

/**
 * Adds `resource` to lease `leaseId`, inside the caller's transaction (call
 * it from within `mdb.update`). This is how a request carrying the
 * `containerd-lease` header puts what it creates under that lease. Throws
 * `not_found` (`lease "x": not found`) for an unknown lease,
 * `invalid_argument` / `not_implemented` for a bad resource. Adding a
 * resource the lease already holds is a no-op.
 */
export function addLeaseResourceTx(
  mdb: MetadataDB,
  namespace: string,
  leaseId: string,
  resource: LeaseResource,
): void {
  if (!leaseExists(mdb, namespace, leaseId)) throw leaseNotFound(leaseId);
  const r = parseLeaseResource(resource);
  mdb
    .prepare(
      'INSERT OR IGNORE INTO lease_resources (namespace, lease, type, id) VALUES (?, ?, ?, ?)',
    )
    .run(namespace, leaseId, r.type, r.id);
}

/**
 * Removes `resource` from lease `leaseId`, inside the caller's transaction.
 * A missing lease or resource is not an error (containerd's
 * `remove*Lease`). Returns whether a reference was removed.
 */
export function removeLeaseResourceTx(
  mdb: MetadataDB,
  namespace: string,
  leaseId: string,
  resource: LeaseResource,
): boolean {
  return removeResource(mdb, namespace, leaseId, parseLeaseResource(resource));
}

/**
 * The fields containerd's lease filters see (metadata/adaptors.go): `id`
 * and `labels.<key>`.
 */
export function leaseAdaptor(lease: Lease): Adaptor {
  return fieldsAdaptor({ id: lease.id || undefined, labels: lease.labels });
}

/** Throws `invalid_argument` unless `id` can name a lease (see {@link SqliteLeaseManager}). */
export function validateLeaseId(id: string): void {
  if (id === '') {
    throw invalidArgument('lease id must be provided');
  }
  if (id.length > MAX_LEASE_ID_LENGTH || !LEASE_ID.test(id)) {
    throw invalidArgument(
      `lease id ${JSON.stringify(id)} must be 1 to ${MAX_LEASE_ID_LENGTH} visible ASCII characters`,
    );
  }
}

/**
 * Checks a resource as containerd's `parseLeaseResource` does and returns
 * it normalised.
 */
function parseLeaseResource(resource: LeaseResource): LeaseResource {
  const { type, id } = resource;
  const keys = type.split('/');
  switch (keys[0]) {
    case RESOURCE_CONTENT:
    case RESOURCE_INGESTS:
      if (keys.length !== 1) {
        throw invalidArgument(`invalid resource type ${type}`);
      }
      if (keys[0] === RESOURCE_CONTENT) {
        try {
          validateDigest(id);
        } catch (err) {
          const reason = (err as Error).message.replace(/^digest ".*?": /, '');
          throw invalidArgument(`invalid content resource id ${id}: ${reason}`, { cause: err });
        }
      }
      break;
    case RESOURCE_SNAPSHOTS:
      if (keys.length !== 2 || keys[1] === '') {
        throw invalidArgument(`invalid snapshot resource type ${type}`);
      }
      break;
    default:
      throw notImplemented(`resource type ${type} not supported yet`);
  }
  if (id === '') {
    throw invalidArgument(`${type} resource id must not be empty`);
  }
  return { type, id };
}

function removeResource(
  mdb: MetadataDB,
  namespace: string,
  leaseId: string,
  r: LeaseResource,
): boolean {
  const res = mdb
    .prepare(
      'DELETE FROM lease_resources WHERE namespace = ? AND lease = ? AND type = ? AND id = ?',
    )
    .run(namespace, leaseId, r.type, r.id);
  return res.changes > 0;
}

function leaseExists(mdb: MetadataDB, namespace: string, id: string): boolean {
  return (
    mdb.prepare('SELECT 1 FROM leases WHERE namespace = ? AND id = ?').get(namespace, id) !==
    undefined
  );
}

function leaseNotFound(id: string) {
  return notFound(`lease ${JSON.stringify(id)}`);
}

function withoutEmpty(labels: Labels): Labels {
  const out: Labels = {};
  for (const [k, v] of Object.entries(labels)) if (v !== '') out[k] = v;
  return out;
}

function fromRow(row: Row): Lease {
  return { id: row.id, labels: JSON.parse(row.labels) as Labels, createdAt: row.created_at };
}
