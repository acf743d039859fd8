import type { Database } from 'better-sqlite3';
import {
  alreadyExists,
  failedPrecondition,
  invalidArgument,
  notFound,
} from '../core/errdefs/index.js';
import type { GcScheduler } from '../core/gc/index.js';
import { validateIdentifier } from '../core/identifiers/index.js';
import { type Labels, validateLabels } from '../core/labels/index.js';
import type { Namespace, NamespaceStore } from '../core/namespaces/index.js';
import { nowNanos } from '../core/time/index.js';
import type { MetadataDB } from './db.js';
import { NAMESPACED_RESOURCES } from './migrations.js';

interface Row {
  name: string;
  labels: string;
}

/** {@link NamespaceStore} on the metadata database. */
export class SqliteNamespaceStore implements NamespaceStore {
  /**
   * @param gc when given, {@link delete} runs a collection first, so that
   *   what is left in a namespace is judged after its garbage is gone (the
   *   blobs and snapshots of a removed image, say) and its files are gone
   *   from disk when the delete answers.
   */
  constructor(
    private readonly mdb: MetadataDB,
    private readonly gc?: Pick<GcScheduler, 'collect'>,
  ) {}

  create(ns: Namespace): Namespace {
    validateIdentifier(ns.name);
    validateLabels(ns.labels, 'namespace');
    return this.mdb.update(() => {
      if (getRow(this.mdb, ns.name)) {
        throw alreadyExists(`namespace ${JSON.stringify(ns.name)}`);
      }
      insert(this.mdb, ns.name, ns.labels);
      return { name: ns.name, labels: { ...ns.labels } };
    });
  }

  get(name: string): Namespace | undefined {
    const row = getRow(this.mdb, name);
    return row ? fromRow(row) : undefined;
  }

  list(): Namespace[] {
    const rows = this.mdb
      .prepare('SELECT name, labels FROM namespaces ORDER BY name')
      .all() as Row[];
    return rows.map(fromRow);
  }

  update(ns: Namespace, paths?: readonly string[]): Namespace {
    validateIdentifier(ns.name);
    const masked = paths !== undefined && paths.length > 0;
    if (masked) {
      for (const p of paths) {
        if (p !== 'labels' && !p.startsWith('labels.')) {
          throw invalidArgument(`cannot update ${JSON.stringify(p)} field`);
        }
      }
    }
    validateLabels(ns.labels, 'namespace');
    return this.mdb.update(() => {
      const row = getRow(this.mdb, ns.name);
      let labels: Labels;
      if (!masked) {
        labels = { ...ns.labels };
      } else {
        labels = row ? parseLabels(row.labels) : {};
        for (const p of paths) {
          if (p === 'labels') {
            labels = { ...ns.labels };
            continue;
          }
          const key = p.slice('labels.'.length);
          const value = ns.labels[key];
          if (value === undefined || value === '') delete labels[key];
          else labels[key] = value;
        }
      }
      // An empty value means "no label", as containerd stores labels.
      for (const [k, v] of Object.entries(labels)) if (v === '') delete labels[k];
      if (row) {
        this.mdb
          .prepare('UPDATE namespaces SET labels = ? WHERE name = ?')
          .run(JSON.stringify(labels), ns.name);
      } else {
        insert(this.mdb, ns.name, labels);
      }
      return { name: ns.name, labels };
    });
  }

  async delete(name: string): Promise<void> {
    if (this.gc && getRow(this.mdb, name)) {
      // A failed collection is logged by the collector; what it left is
      // then reported as still in the namespace.
      await this.gc.collect().catch(() => {});
    }
    this.mdb.update((db) => {
      if (!getRow(this.mdb, name)) {
        throw notFound(`namespace ${JSON.stringify(name)}`);
      }
      const left = remainingResources(db, name);
      if (left.length > 0) {
        throw failedPrecondition(
          `namespace ${JSON.stringify(name)} must be empty, but it still has ${left.join(', ')}`,
        );
      }
      db.prepare('DELETE FROM lease_resources WHERE namespace = ?').run(name);
      db.prepare('DELETE FROM leases WHERE namespace = ?').run(name);
      db.prepare('DELETE FROM content_ingests WHERE namespace = ?').run(name);
      db.prepare('DELETE FROM namespaces WHERE name = ?').run(name);
    });
  }
}

/**
 * Creates the namespace if it is missing, inside the caller's transaction:
 * resources created in a namespace bring it into being, as in containerd.
 */
export function ensureNamespace(mdb: MetadataDB, name: string): void {
  validateIdentifier(name);
  if (!getRow(mdb, name)) insert(mdb, name, {});
}

function remainingResources(db: Database, name: string): string[] {
  const left: string[] = [];
  for (const { table, noun } of NAMESPACED_RESOURCES) {
    const hit = db.prepare(`SELECT 1 FROM ${table} WHERE namespace = ? LIMIT 1`).get(name);
    if (hit) left.push(noun);
  }
  const snapshotters = db
    .prepare('SELECT DISTINCT snapshotter FROM snapshots WHERE namespace = ? ORDER BY snapshotter')
    .all(name) as { snapshotter: string }[];
  for (const { snapshotter } of snapshotters) {
    left.push(`snapshots on ${JSON.stringify(snapshotter)} snapshotter`);
  }
  return left;
}

function getRow(mdb: MetadataDB, name: string): Row | undefined {
  return mdb.prepare('SELECT name, labels FROM namespaces WHERE name = ?').get(name) as
    | Row
    | undefined;
}

function insert(mdb: MetadataDB, name: string, labels: Labels): void {
  mdb
    .prepare('INSERT INTO namespaces (name, labels, created_at) VALUES (?, ?, ?)')
    .run(name, JSON.stringify(labels), nowNanos());
}

function fromRow(row: Row): Namespace {
  return { name: row.name, labels: parseLabels(row.labels) };
}

function parseLabels(json: string): Labels {
  return JSON.parse(json) as Labels;
}
