import { asBuffer } from '../core/any/index.js';
import {
  type AnyValue,
  applyContainerUpdate,
  type Container,
  type ContainerRecord,
  type ContainerStore,
  containerAdaptor,
  normalizeContainer,
  validateContainer,
} from '../core/containers/index.js';
import { alreadyExists, BerthError, invalidArgument, notFound } from '../core/errdefs/index.js';
import { parseFilters } from '../core/filters/index.js';
import type { Labels } from '../core/labels/index.js';
import { namespaceRequired, type OpContext } from '../core/namespaces/index.js';
import { nowNanos } from '../core/time/index.js';
import type { MetadataDB } from './db.js';
import { ensureNamespace } from './namespaces.js';

/** A row of `containers` (times as bigints, Anys split into bytes and type URL). */
interface Row {
  id: string;
  image: string;
  runtime_name: string;
  runtime_options: Buffer | null;
  runtime_options_type: string | null;
  spec: Buffer | null;
  spec_type: string | null;
  snapshotter: string;
  snapshot_key: string;
  sandbox: string;
  labels: string;
  created_at: bigint;
  updated_at: bigint;
}

interface ExtensionRow {
  container: string;
  name: string;
  type_url: string;
  value: Buffer;
}

const COLUMNS =
  'id, image, runtime_name, runtime_options, runtime_options_type, spec, spec_type, ' +
  'snapshotter, snapshot_key, sandbox, labels, created_at, updated_at';

/**
 * {@link ContainerStore} on the metadata database, with containerd's rules
 * (metadata/containers.go) from `core/containers`, and its error wording:
 * validation failures say `create container failed validation: …` or
 * `update failed validation: …`; a missing container in a namespace that
 * has none at all says `cannot update|delete container "x" in namespace
 * "ns"`.
 *
 * Anys are stored as their bytes plus their type URL, so a spec or runtime
 * options come back byte for byte; extensions live in
 * `container_extensions` and go with their container. Each mutation is one
 * transaction; a delete tells `onDelete` (garbage collection: the
 * container's snapshot may now be unreferenced), as containerd marks its
 * store dirty.
 */
export class SqliteContainerStore implements ContainerStore {
  constructor(
    private readonly mdb: MetadataDB,
    /** Called after a container is deleted. */
    private readonly onDelete: () => void = () => {},
  ) {}

  async get(ctx: OpContext, id: string): Promise<Container> {
    const ns = namespaceRequired(ctx);
    return this.mdb.view(() => {
      const row = this.row(ns, id);
      if (!row) {
        throw notFound(`container ${JSON.stringify(id)} in namespace ${JSON.stringify(ns)}`);
      }
      return fromRow(row, this.extensions(ns, id));
    });
  }

  async list(ctx: OpContext, filters: readonly string[] = []): Promise<Container[]> {
    const ns = namespaceRequired(ctx);
    const filter = parseFilters(filters);
    const [rows, extensions] = this.mdb.view(() => {
      const rows = this.mdb
        .prepare(`SELECT ${COLUMNS} FROM containers WHERE namespace = ? ORDER BY id`)
        .safeIntegers(true)
        .all(ns) as Row[];
      const ext = this.mdb
        .prepare(
          'SELECT container, name, type_url, value FROM container_extensions WHERE namespace = ?',
        )
        .all(ns) as ExtensionRow[];
      return [rows, ext] as const;
    });
    const byContainer = new Map<string, ExtensionRow[]>();
    for (const e of extensions) {
      const list = byContainer.get(e.container);
      if (list) list.push(e);
      else byContainer.set(e.container, [e]);
    }
    return rows
      .map((row) => fromRow(row, byContainer.get(row.id) ?? []))
      .filter((c) => filter.match(containerAdaptor(c)));
  }

  async create(ctx: OpContext, container: ContainerRecord): Promise<Container> {
    const ns = namespaceRequired(ctx);
    const record = normalizeContainer(container);
    validated(record, 'create container failed validation');
    return this.mdb.updateDurable(() => {
      ensureNamespace(this.mdb, ns);
      if (this.row(ns, record.id)) {
        throw alreadyExists(`container ${JSON.stringify(record.id)}`);
      }
      const now = nowNanos();
      this.mdb
        .prepare(
          `INSERT INTO containers (namespace, ${COLUMNS})
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(ns, ...columns(record), now, now);
      this.writeExtensions(ns, record);
      return { ...record, createdAt: now, updatedAt: now };
    });
  }

  async update(
    ctx: OpContext,
    container: ContainerRecord,
    fieldpaths: readonly string[] = [],
  ): Promise<Container> {
    const ns = namespaceRequired(ctx);
    if (container.id === '') {
      throw invalidArgument('must specify a container id');
    }
    return this.mdb.updateDurable(() => {
      const row = this.row(ns, container.id);
      if (!row) {
        throw notFound(
          this.hasAny(ns)
            ? `container ${JSON.stringify(container.id)}`
            : `cannot update container ${JSON.stringify(container.id)} in namespace ${JSON.stringify(ns)}`,
        );
      }
      const current = fromRow(row, this.extensions(ns, container.id));
      const record = normalizeContainer(
        applyContainerUpdate(current, normalizeContainer(container), fieldpaths),
      );
      validated(record, 'update failed validation');
      const now = nowNanos();
      // id is the first column and the key: it does not change.
      this.mdb
        .prepare(
          `UPDATE containers SET image = ?, runtime_name = ?, runtime_options = ?,
             runtime_options_type = ?, spec = ?, spec_type = ?, snapshotter = ?,
             snapshot_key = ?, sandbox = ?, labels = ?, updated_at = ?
           WHERE namespace = ? AND id = ?`,
        )
        .run(...columns(record).slice(1), now, ns, record.id);
      this.mdb
        .prepare('DELETE FROM container_extensions WHERE namespace = ? AND container = ?')
        .run(ns, record.id);
      this.writeExtensions(ns, record);
      return { ...record, createdAt: current.createdAt, updatedAt: now };
    });
  }

  async delete(ctx: OpContext, id: string): Promise<void> {
    const ns = namespaceRequired(ctx);
    await this.mdb.updateDurable(() => {
      const res = this.mdb
        .prepare('DELETE FROM containers WHERE namespace = ? AND id = ?')
        .run(ns, id);
      if (res.changes === 0) {
        // containerd's %v: the id is not quoted here.
        throw notFound(
          this.hasAny(ns)
            ? `container ${id}`
            : `cannot delete container ${JSON.stringify(id)} in namespace ${JSON.stringify(ns)}`,
        );
      }
    });
    this.onDelete();
  }

  private row(ns: string, id: string): Row | undefined {
    return this.mdb
      .prepare(`SELECT ${COLUMNS} FROM containers WHERE namespace = ? AND id = ?`)
      .safeIntegers(true)
      .get(ns, id) as Row | undefined;
  }

  private extensions(ns: string, id: string): ExtensionRow[] {
    return this.mdb
      .prepare(
        `SELECT container, name, type_url, value FROM container_extensions
         WHERE namespace = ? AND container = ?`,
      )
      .all(ns, id) as ExtensionRow[];
  }

  /** Whether the namespace has any container (containerd: a containers bucket). */
  private hasAny(ns: string): boolean {
    return (
      this.mdb.prepare('SELECT 1 FROM containers WHERE namespace = ? LIMIT 1').get(ns) !== undefined
    );
  }

  private writeExtensions(ns: string, record: ContainerRecord): void {
    const insert = this.mdb.prepare(
      `INSERT INTO container_extensions (namespace, container, name, type_url, value)
       VALUES (?, ?, ?, ?, ?)`,
    );
    for (const [name, ext] of Object.entries(record.extensions)) {
      insert.run(ns, record.id, name, ext.typeUrl, blob(ext.value));
    }
  }
}

/** Validates `record`, prefixing containerd's context to the message. */
function validated(record: ContainerRecord, context: string): void {
  try {
    validateContainer(record);
  } catch (err) {
    if (!(err instanceof BerthError)) throw err;
    throw invalidArgument(`${context}: ${err.message}`, { cause: err });
  }
}

/** better-sqlite3 binds Buffers as BLOBs. */
const blob = asBuffer;

/** Column values in {@link COLUMNS} order, without the times. */
function columns(c: ContainerRecord) {
  const spec = c.spec as AnyValue;
  return [
    c.id,
    c.image,
    c.runtime.name,
    c.runtime.options ? blob(c.runtime.options.value) : null,
    c.runtime.options ? c.runtime.options.typeUrl : null,
    blob(spec.value),
    spec.typeUrl,
    c.snapshotter,
    c.snapshotKey,
    c.sandbox,
    JSON.stringify(c.labels),
  ] as const;
}

/** Plain Uint8Array copies: what the store returns shares nothing with SQLite's buffers. */
function bytes(b: Buffer | null): Uint8Array {
  return b === null ? new Uint8Array(0) : new Uint8Array(b);
}

function fromRow(row: Row, extensions: readonly ExtensionRow[]): Container {
  const c: Container = {
    id: row.id,
    labels: JSON.parse(row.labels) as Labels,
    image: row.image,
    runtime: { name: row.runtime_name },
    snapshotter: row.snapshotter,
    snapshotKey: row.snapshot_key,
    sandbox: row.sandbox,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    extensions: {},
  };
  if (row.runtime_options_type !== null) {
    c.runtime.options = { typeUrl: row.runtime_options_type, value: bytes(row.runtime_options) };
  }
  if (row.spec_type !== null) {
    c.spec = { typeUrl: row.spec_type, value: bytes(row.spec) };
  }
  for (const e of extensions) c.extensions[e.name] = { typeUrl: e.type_url, value: bytes(e.value) };
  return c;
}
