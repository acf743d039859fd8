import type {
  CommitOptions,
  ContentStore,
  Info,
  ReadOptions,
  Status,
  Writer,
  WriterOptions,
} from '../core/content/index.js';
import { validateDigest } from '../core/content/index.js';
import {
  alreadyExists,
  canceled,
  invalidArgument,
  isAlreadyExists,
  isNotFound,
  isUnavailable,
  notFound,
  unavailable,
} from '../core/errdefs/index.js';
import { fieldsAdaptor, parseFilters } from '../core/filters/index.js';
import { applyLabelPaths, type Labels, validateLabels } from '../core/labels/index.js';
import { RESOURCE_CONTENT, RESOURCE_INGESTS } from '../core/leases/index.js';
import { namespaceRequired, type OpContext } from '../core/namespaces/index.js';
import { nowNanos } from '../core/time/index.js';
import type { MetadataDB } from './db.js';
import { type IngestClaim, IngestClaims } from './ingest-claims.js';
import { KeyedLock } from './keyed-lock.js';
import { addLeaseResourceTx } from './leases.js';
import { ensureNamespace } from './namespaces.js';

/** An ingest opened without a lease may be collected after this long. */
export const INGEST_EXPIRY_NANOS = 24n * 3600n * 1_000_000_000n;

interface BlobRow {
  digest: string;
  size: number;
  labels: string;
  created_at: bigint;
  updated_at: bigint;
}

/**
 * The namespaced content store: blob records (size, labels, times) per
 * namespace in the metadata DB, bytes in a shared backend store.
 *
 * Sharing follows containerd's default `shared` policy: a blob committed in
 * one namespace becomes visible in another once a writer there names it as
 * `expected` (the writer then answers `already_exists`, which clients treat
 * as done). Backend ingest refs are `<namespace>/<ref>`, so namespaces never
 * collide on a ref.
 *
 * Blobs are removed from the backend only by garbage collection, which asks
 * {@link MetadataContentStore.committing} which digests are between the
 * backend commit and their record, and leaves those alone.
 */
export class MetadataContentStore implements ContentStore {
  private readonly inCommit = new Map<string, number>();
  /** Serialises the runs that record one digest (see {@link holding}). */
  private readonly recording = new KeyedLock();
  /** Which ingest is writing each expected digest, so a blob is fetched once. */
  readonly claims = new IngestClaims();

  constructor(
    private readonly mdb: MetadataDB,
    private readonly backend: ContentStore,
    private readonly onDelete: () => void = () => {},
  ) {}

  /** Digests whose commit is in flight: not yet recorded, but not garbage. */
  committing(): ReadonlySet<string> {
    return new Set(this.inCommit.keys());
  }

  async info(ctx: OpContext, digest: string): Promise<Info> {
    const ns = namespaceRequired(ctx);
    validateDigest(digest);
    const row = this.blobRow(ns, digest);
    if (!row) throw notFound(`content digest ${digest}`);
    return toInfo(row);
  }

  read(ctx: OpContext, digest: string, opts?: ReadOptions): AsyncIterable<Buffer> {
    const ns = namespaceRequired(ctx);
    validateDigest(digest);
    if (!this.blobRow(ns, digest)) throw notFound(`content digest ${digest}`);
    return this.backend.read(ctx, digest, opts);
  }

  async update(
    ctx: OpContext,
    info: Pick<Info, 'digest' | 'labels'>,
    fieldpaths?: readonly string[],
  ): Promise<Info> {
    const ns = namespaceRequired(ctx);
    validateDigest(info.digest);
    const { otherPaths } = applyLabelPaths({}, {}, fieldpaths);
    if (otherPaths.length > 0) {
      throw invalidArgument(
        `cannot update ${otherPaths.map((p) => JSON.stringify(p)).join(', ')} field on content info ${JSON.stringify(info.digest)}`,
      );
    }
    validateLabels(info.labels, 'content');
    return this.mdb.update(() => {
      const row = this.blobRow(ns, info.digest);
      if (!row) throw notFound(`content digest ${info.digest}`);
      const { labels } = applyLabelPaths(parseLabels(row.labels), info.labels, fieldpaths);
      const now = nowNanos();
      this.mdb
        .prepare(
          'UPDATE content_blobs SET labels = ?, updated_at = ? WHERE namespace = ? AND digest = ?',
        )
        .run(JSON.stringify(labels), now, ns, info.digest);
      return { ...toInfo(row), labels, updatedAt: now };
    });
  }

  async list(ctx: OpContext, filters?: readonly string[]): Promise<Info[]> {
    const ns = namespaceRequired(ctx);
    const filter = parseFilters(filters ?? []);
    const rows = this.mdb
      .prepare(
        'SELECT digest, size, labels, created_at, updated_at FROM content_blobs WHERE namespace = ? ORDER BY digest',
      )
      .safeIntegers(true)
      .all(ns) as RawBlobRow[];
    return rows
      .map((r) => toInfo(fromRaw(r)))
      .filter((i) =>
        filter.match(fieldsAdaptor({ digest: i.digest, size: String(i.size), labels: i.labels })),
      );
  }

  async delete(ctx: OpContext, digest: string): Promise<void> {
    const ns = namespaceRequired(ctx);
    validateDigest(digest);
    this.mdb.update(() => {
      const r = this.mdb
        .prepare('DELETE FROM content_blobs WHERE namespace = ? AND digest = ?')
        .run(ns, digest);
      if (r.changes === 0) throw notFound(`content digest ${digest}`);
    });
    this.onDelete();
  }

  async status(ctx: OpContext, ref: string): Promise<Status> {
    const ns = namespaceRequired(ctx);
    const st = await this.backend.status(ctx, backendRef(ns, ref)).catch((err: unknown) => {
      if (isNotFound(err)) throw notFound(`ingest ${JSON.stringify(ref)}`, { cause: err });
      throw err;
    });
    return { ...st, ref };
  }

  async listStatuses(ctx: OpContext, filters?: readonly string[]): Promise<Status[]> {
    const ns = namespaceRequired(ctx);
    const filter = parseFilters(filters ?? []);
    const prefix = backendRef(ns, '');
    const all = await this.backend.listStatuses(ctx);
    return all
      .filter((s) => s.ref.startsWith(prefix))
      .map((s) => ({ ...s, ref: s.ref.slice(prefix.length) }))
      .filter((s) => filter.match(fieldsAdaptor({ ref: s.ref })));
  }

  async abort(ctx: OpContext, ref: string): Promise<void> {
    const ns = namespaceRequired(ctx);
    await this.backend.abort(ctx, backendRef(ns, ref)).catch((err: unknown) => {
      if (isNotFound(err)) throw notFound(`ingest ${JSON.stringify(ref)}`, { cause: err });
      throw err;
    });
    // A writer still open on it can no longer commit: writers waiting for
    // the same blob go on.
    this.claims.releaseRef(backendRef(ns, ref));
    this.mdb.update(() => {
      this.mdb.prepare('DELETE FROM content_ingests WHERE namespace = ? AND ref = ?').run(ns, ref);
    });
  }

  /**
   * Opens (or resumes) the namespace's ingest `opts.ref`. With an `expected`
   * digest:
   * - the namespace has the blob: it joins the context's lease, and the
   *   writer answers `already_exists`;
   * - another ref (any namespace) is writing the same digest: the writer
   *   waits until that ingest is committed or let go, so each blob is
   *   fetched once however many pulls want it ({@link IngestClaims}); the
   *   wait ends with `canceled` when the context's signal aborts;
   * - the backend has the blob (another namespace committed it): shared
   *   policy, it is recorded here and joins the lease, `already_exists`;
   * - otherwise the ingest opens, holding the digest's claim until it is
   *   committed, closed or aborted.
   *
   * A caller holding a writer for one digest must not wait for a writer of
   * another (open it only after the first is written and committed or
   * closed), or two pulls that want the same blobs could wait on each other.
   */
  async writer(ctx: OpContext, opts: WriterOptions): Promise<Writer> {
    const ns = namespaceRequired(ctx);
    if (!opts.ref) throw invalidArgument('ref must not be empty');
    const bref = backendRef(ns, opts.ref);
    let claim: IngestClaim | undefined;
    if (opts.expected) {
      const expected = opts.expected;
      validateDigest(expected);
      if (this.leaseIfPresent(ctx, ns, expected)) throw alreadyExists(`content ${expected}`);
      const holder = this.claims.holder(expected);
      if (holder !== undefined && holder !== bref) {
        ctx.log.debug(
          { ref: opts.ref, expected, writing: holder },
          'content: waiting for the ingest writing the same blob',
        );
      }
      claim = await this.claims.acquire(expected, bref, ctx.signal);
      try {
        await this.adoptCommitted(ctx, ns, expected);
      } catch (err) {
        claim.release();
        throw err;
      }
    }
    try {
      return await this.openWriter(ctx, ns, opts, claim);
    } catch (err) {
      claim?.release();
      throw err;
    }
  }

  /**
   * Throws `already_exists` (after recording the blob here and adding it to
   * the lease) when the blob is committed: in this namespace (a writer of
   * another ref here may have committed it while this one waited) or, by
   * the shared policy, in the backend.
   */
  private async adoptCommitted(ctx: OpContext, ns: string, expected: string): Promise<void> {
    if (this.leaseIfPresent(ctx, ns, expected)) throw alreadyExists(`content ${expected}`);
    const shared = await this.holding(expected, async () => {
      const info = await this.backend.info(ctx, expected).catch((err: unknown) => {
        if (isNotFound(err)) return undefined;
        throw err;
      });
      // Naming a blob another namespace committed makes it visible here
      // without writing the bytes again.
      if (info) this.mdb.update(() => this.record(ctx, ns, expected, info.size, {}));
      return info;
    });
    if (shared) throw alreadyExists(`content ${expected}`);
  }

  private async openWriter(
    ctx: OpContext,
    ns: string,
    opts: WriterOptions,
    claim: IngestClaim | undefined,
  ): Promise<Writer> {
    if (ctx.signal.aborted) {
      // Granted the blob just as its caller gave up: open nothing.
      throw canceled(`opening ingest ${JSON.stringify(opts.ref)}: the caller gave up`, {
        cause: ctx.signal.reason,
      });
    }
    this.mdb.update(() => {
      ensureNamespace(this.mdb, ns);
      const expires = ctx.lease ? null : nowNanos() + INGEST_EXPIRY_NANOS;
      this.mdb
        .prepare(
          `INSERT INTO content_ingests (namespace, ref, expected, expires_at) VALUES (?, ?, ?, ?)
           ON CONFLICT (namespace, ref) DO UPDATE SET expected = excluded.expected, expires_at = excluded.expires_at`,
        )
        .run(ns, opts.ref, opts.expected ?? '', expires);
      if (ctx.lease) {
        addLeaseResourceTx(this.mdb, ns, ctx.lease, { type: RESOURCE_INGESTS, id: opts.ref });
      }
    });
    const w = await this.backend
      .writer(ctx, {
        ref: backendRef(ns, opts.ref),
        ...(opts.total !== undefined && { total: opts.total }),
        ...(opts.expected !== undefined && { expected: opts.expected }),
      })
      .catch(async (err: unknown) => {
        // The backend names its namespaced ref; the caller knows only its own.
        if (isUnavailable(err))
          throw unavailable(`ref ${JSON.stringify(opts.ref)} locked`, { cause: err });
        // Committed while this writer waited for its ref (a writer of the
        // same ref here, the ref lock handed over): record it and lease it.
        if (isAlreadyExists(err) && opts.expected)
          await this.adoptCommitted(ctx, ns, opts.expected);
        throw err;
      });
    return new NamespacedWriter(this, ctx, ns, opts.ref, w, claim);
  }

  /** Finishes a namespaced commit; called by the writer. */
  async commitWriter(
    w: NamespacedWriter,
    inner: Writer,
    size: number,
    expected: string | undefined,
    opts: CommitOptions | undefined,
  ): Promise<string> {
    const labels = opts?.labels ?? {};
    validateLabels(labels, 'content');
    const digest = expected || inner.digest();
    return this.holding(digest, async () => {
      let committed = digest;
      try {
        committed = await inner.commit(size, expected, opts);
      } catch (err) {
        // Another namespace (or an earlier run) committed the same bytes:
        // the backend has them, so only the record is missing.
        if (!isAlreadyExists(err)) throw err;
      }
      const info = await this.backend.info(w.ctx, committed);
      const existed = this.mdb.update(() => {
        const existed = this.blobRow(w.namespace, committed) !== undefined;
        // A blob the namespace already had still joins the writer's lease,
        // as containerd's commit does before it answers ALREADY_EXISTS.
        if (existed) this.addToLease(w.ctx, w.namespace, committed);
        else this.record(w.ctx, w.namespace, committed, info.size, labels);
        this.mdb
          .prepare('DELETE FROM content_ingests WHERE namespace = ? AND ref = ?')
          .run(w.namespace, w.ref);
        return existed;
      });
      if (existed) throw alreadyExists(`content ${committed}`);
      return committed;
    });
  }

  /**
   * Runs `fn` with `digest` marked as in commit, so GC leaves its blob alone,
   * and alone among the runs that record that digest: a writer of the same
   * ref that finds the blob committed as soon as the ref lock is handed over
   * waits for the committer's record (its labels, its answer) instead of
   * recording the blob first and turning the committer's answer into
   * ALREADY_EXISTS.
   */
  private async holding<T>(digest: string, fn: () => Promise<T>): Promise<T> {
    this.inCommit.set(digest, (this.inCommit.get(digest) ?? 0) + 1);
    try {
      return await this.recording.run([digest], fn);
    } finally {
      const n = (this.inCommit.get(digest) ?? 1) - 1;
      if (n <= 0) this.inCommit.delete(digest);
      else this.inCommit.set(digest, n);
    }
  }

  /**
   * Whether the namespace has the blob; if it has and the call carries a
   * lease, the blob joins the lease first. containerd does this before it
   * answers ALREADY_EXISTS to a writer: the client (an import, a pull) goes on
   * to reference the blob from a record it writes later, and a collection in
   * between must not take it.
   */
  private leaseIfPresent(ctx: OpContext, ns: string, digest: string): boolean {
    if (!this.blobRow(ns, digest)) return false;
    if (ctx.lease) this.mdb.update(() => this.addToLease(ctx, ns, digest));
    return true;
  }

  private addToLease(ctx: OpContext, ns: string, digest: string): void {
    if (ctx.lease) {
      addLeaseResourceTx(this.mdb, ns, ctx.lease, { type: RESOURCE_CONTENT, id: digest });
    }
  }

  /** Inserts a blob record (inside the caller's transaction). */
  private record(ctx: OpContext, ns: string, digest: string, size: number, labels: Labels): void {
    ensureNamespace(this.mdb, ns);
    const now = nowNanos();
    this.mdb
      .prepare(
        `INSERT INTO content_blobs (namespace, digest, size, labels, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (namespace, digest) DO NOTHING`,
      )
      .run(ns, digest, size, JSON.stringify(labels), now, now);
    this.addToLease(ctx, ns, digest);
  }

  private blobRow(ns: string, digest: string): BlobRow | undefined {
    const raw = this.mdb
      .prepare(
        'SELECT digest, size, labels, created_at, updated_at FROM content_blobs WHERE namespace = ? AND digest = ?',
      )
      .safeIntegers(true)
      .get(ns, digest) as RawBlobRow | undefined;
    return raw ? fromRaw(raw) : undefined;
  }
}

/** A backend writer seen through a namespace: refs and commits are namespaced. */
class NamespacedWriter implements Writer {
  constructor(
    private readonly store: MetadataContentStore,
    readonly ctx: OpContext,
    readonly namespace: string,
    readonly ref: string,
    private readonly inner: Writer,
    /** The writer's hold on its expected digest, released when it commits or closes. */
    private readonly claim: IngestClaim | undefined,
  ) {}

  async status(): Promise<Status> {
    return { ...(await this.inner.status()), ref: this.ref };
  }

  write(data: Buffer): Promise<void> {
    return this.inner.write(data);
  }

  truncate(size: number): Promise<void> {
    return this.inner.truncate(size);
  }

  async commit(size: number, expected?: string, opts?: CommitOptions): Promise<string> {
    try {
      return await this.store.commitWriter(this, this.inner, size, expected, opts);
    } finally {
      // Committed (waiters then find the blob) or failed (a waiter writes it).
      this.claim?.release();
    }
  }

  digest(): string {
    return this.inner.digest();
  }

  async close(): Promise<void> {
    try {
      await this.inner.close();
    } finally {
      this.claim?.release();
    }
  }
}

interface RawBlobRow {
  digest: string;
  size: bigint;
  labels: string;
  created_at: bigint;
  updated_at: bigint;
}

function fromRaw(r: RawBlobRow): BlobRow {
  return { ...r, size: Number(r.size) };
}

function toInfo(r: BlobRow): Info {
  return {
    digest: r.digest,
    size: r.size,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    labels: parseLabels(r.labels),
  };
}

function parseLabels(json: string): Labels {
  return JSON.parse(json) as Labels;
}

export function backendRef(namespace: string, ref: string): string {
  return `${namespace}/${ref}`;
}
