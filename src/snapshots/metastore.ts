import {
  alreadyExists,
  failedPrecondition,
  invalidArgument,
  notFound,
} from '../core/errdefs/index.js';
import { parseFilters } from '../core/filters/index.js';
import { applyLabelPaths, type Labels, validateLabels } from '../core/labels/index.js';
import {
  type Kind,
  type SnapshotInfo,
  snapshotAdaptor,
  type Usage,
} from '../core/snapshots/index.js';
import { type Migration, SqliteDB } from '../sys/sqlite.js';

/**
 * A snapshot as a backend sees it: its directory id, its kind and the ids of
 * its parent chain, nearest first (containerd's storage.Snapshot).
 */
export interface StoredSnapshot {
  id: string;
  kind: Kind;
  parentIds: string[];
}

interface Row {
  id: bigint;
  key: string;
  parent_id: bigint | null;
  parent: string | null;
  kind: Kind;
  labels: string;
  created_at: bigint;
  updated_at: bigint;
  size: bigint;
  inodes: bigint;
}

const SELECT_ROW = `SELECT s.id, s.key, s.parent_id, p.key AS parent, s.kind, s.labels, s.created_at,
  s.updated_at, s.size, s.inodes FROM snapshots s LEFT JOIN snapshots p ON p.id = s.parent_id`;

/**
 * A backend snapshotter's own records, in `<root>/metadata.db` (SQLite, WAL,
 * full fsync), as containerd's snapshots/storage keeps them in bolt: key,
 * numeric id (the directory name, never reused: AUTOINCREMENT), parent, kind,
 * labels, times, and the usage measured at commit.
 *
 * Methods are synchronous and run in one transaction each; callers that
 * change the disk do it inside {@link MetaStore.update} so that the record
 * and the rename commit together (see the snapshotters).
 *
 * Error messages follow containerd's storage package.
 */
export class MetaStore extends SqliteDB {
  constructor(path: string) {
    super({ path, migrations: MIGRATIONS, what: 'snapshotter metadata' });
  }

  /** Info, directory id and stored usage of `key`; `not_found` if there is none. */
  getInfo(key: string): { id: string; info: SnapshotInfo; usage: Usage } {
    const row = this.row(key);
    if (!row) throw notFound(`snapshot ${JSON.stringify(key)} does not exist`);
    return { id: String(row.id), info: toInfo(row), usage: toUsage(row) };
  }

  /** The active snapshot or view `key`, with its parent chain. */
  getSnapshot(key: string): StoredSnapshot {
    const row = this.row(key);
    if (!row) throw notFound(`snapshot ${JSON.stringify(key)} does not exist`);
    if (row.kind !== 'active' && row.kind !== 'view') {
      throw failedPrecondition(`requested snapshot ${key} not active or view`);
    }
    return { id: String(row.id), kind: row.kind, parentIds: this.parentIds(row.parent_id) };
  }

  /**
   * Checks that `key` can be created on `parent` and returns the parent
   * chain; throws as {@link MetaStore.create} would.
   */
  checkCreate(key: string, parent: string): string[] {
    if (key === '') throw invalidArgument('snapshot key must not be empty');
    if (this.row(key)) throw alreadyExists(`snapshot ${key}`);
    if (parent === '') return [];
    const p = this.row(parent);
    if (!p) throw notFound(`missing parent ${JSON.stringify(parent)} bucket`);
    if (p.kind !== 'committed') {
      throw invalidArgument(`parent ${JSON.stringify(parent)} is not committed snapshot`);
    }
    return [String(p.id), ...this.parentIds(p.parent_id)];
  }

  /** Inserts an active snapshot or view (inside the caller's transaction). */
  create(kind: Kind, key: string, parent: string, labels: Labels, now: bigint): StoredSnapshot {
    if (kind !== 'active' && kind !== 'view') {
      throw invalidArgument(
        `snapshot type ${kind} invalid; only snapshots of type Active or View can be created`,
      );
    }
    const parentIds = this.checkCreate(key, parent);
    const r = this.prepare(
      `INSERT INTO snapshots (key, parent_id, kind, labels, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?)`,
    ).run(key, parentIds[0] ?? null, kind, JSON.stringify(labels), now, now);
    return { id: String(r.lastInsertRowid), kind, parentIds };
  }

  /**
   * Checks that active `key` can be committed as `name`; returns its id.
   * Throws as {@link MetaStore.commit} would.
   */
  checkCommit(name: string, key: string): string {
    const row = this.row(key);
    if (!row) throw notFound(`snapshot ${JSON.stringify(key)} does not exist`);
    if (name === '') throw invalidArgument('snapshot name must not be empty');
    if (this.row(name)) throw alreadyExists(`committed snapshot ${name}`);
    if (row.kind !== 'active') {
      throw failedPrecondition(`snapshot ${JSON.stringify(key)} is not active`);
    }
    return String(row.id);
  }

  /**
   * Turns active `key` into committed `name`: same id and directory, new
   * times, labels replaced (not inherited), usage stored.
   */
  commit(name: string, key: string, usage: Usage, labels: Labels, now: bigint): string {
    const id = this.checkCommit(name, key);
    this.prepare(
      `UPDATE snapshots SET key = ?, kind = 'committed', labels = ?, created_at = ?, updated_at = ?,
       size = ?, inodes = ? WHERE id = ?`,
    ).run(name, JSON.stringify(labels), now, now, usage.size, usage.inodes, BigInt(id));
    return id;
  }

  /** Deletes `key`'s record; refuses while it has children. Returns its id and kind. */
  remove(key: string): { id: string; kind: Kind } {
    const row = this.row(key);
    if (!row) throw notFound(`snapshot ${key}`);
    if (this.prepare('SELECT 1 FROM snapshots WHERE parent_id = ? LIMIT 1').get(row.id)) {
      throw failedPrecondition('cannot remove snapshot with child');
    }
    this.prepare('DELETE FROM snapshots WHERE id = ?').run(row.id);
    return { id: String(row.id), kind: row.kind };
  }

  /** Label update with containerd's field paths (`labels`, `labels.<key>`). */
  updateInfo(
    info: Pick<SnapshotInfo, 'name' | 'labels'>,
    fieldpaths: readonly string[] | undefined,
    now: bigint,
  ): SnapshotInfo {
    const row = this.row(info.name);
    if (!row) throw notFound('snapshot does not exist');
    const { labels, otherPaths } = applyLabelPaths(
      JSON.parse(row.labels) as Labels,
      info.labels ?? {},
      fieldpaths,
    );
    const [bad] = otherPaths;
    if (bad !== undefined) {
      throw invalidArgument(
        `cannot update ${JSON.stringify(bad)} field on snapshot ${JSON.stringify(info.name)}`,
      );
    }
    validateLabels(labels, 'info');
    this.prepare('UPDATE snapshots SET labels = ?, updated_at = ? WHERE id = ?').run(
      JSON.stringify(labels),
      now,
      row.id,
    );
    return { ...toInfo(row), labels, updatedAt: now };
  }

  /** Every snapshot matching any of `filters` (containerd's snapshot adaptor), by key. */
  list(filters: readonly string[] = []): SnapshotInfo[] {
    const filter = parseFilters(filters);
    const rows = this.prepare(`${SELECT_ROW} ORDER BY s.key`).safeIntegers(true).all() as Row[];
    return rows.map(toInfo).filter((i) => filter.match(snapshotAdaptor(i)));
  }

  /** Every live directory id. */
  ids(): Set<string> {
    const rows = this.prepare('SELECT id FROM snapshots').safeIntegers(true).all() as {
      id: bigint;
    }[];
    return new Set(rows.map((r) => String(r.id)));
  }

  private row(key: string): Row | undefined {
    return this.prepare(`${SELECT_ROW} WHERE s.key = ?`).safeIntegers(true).get(key) as
      | Row
      | undefined;
  }

  private parentIds(first: bigint | null): string[] {
    const out: string[] = [];
    const st = this.prepare('SELECT parent_id FROM snapshots WHERE id = ?').safeIntegers(true);
    for (let id = first; id !== null; ) {
      out.push(String(id));
      const r = st.get(id) as { parent_id: bigint | null } | undefined;
      if (!r) throw notFound('missing parent');
      id = r.parent_id;
    }
    return out;
  }
}

function toInfo(row: Row): SnapshotInfo {
  return {
    name: row.key,
    parent: row.parent ?? '',
    kind: row.kind,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    labels: JSON.parse(row.labels) as Labels,
  };
}

function toUsage(row: Row): Usage {
  return { size: Number(row.size), inodes: Number(row.inodes) };
}

/** The snapshotter's schema ({@link Migration}: append only). */
const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'snapshots',
    up(db) {
      db.exec(`
        CREATE TABLE snapshots (
          id         INTEGER PRIMARY KEY AUTOINCREMENT,
          key        TEXT NOT NULL UNIQUE,
          parent_id  INTEGER REFERENCES snapshots(id),
          kind       TEXT NOT NULL CHECK (kind IN ('active', 'view', 'committed')),
          labels     TEXT NOT NULL DEFAULT '{}',
          created_at INTEGER NOT NULL,
          updated_at INTEGER NOT NULL,
          size       INTEGER NOT NULL DEFAULT 0,
          inodes     INTEGER NOT NULL DEFAULT 0
        ) STRICT;
        CREATE INDEX snapshots_parent ON snapshots (parent_id);
      `);
    },
  },
];
