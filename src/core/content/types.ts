import type { Labels } from '../labels/index.js';
import type { OpContext } from '../namespaces/index.js';

/** An OCI descriptor: what a blob is, by digest and size. */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Labels;
}

/** A committed blob. Times are nanoseconds since the epoch. */
export interface Info {
  digest: string;
  size: number;
  createdAt: bigint;
  updatedAt: bigint;
  labels: Labels;
}

/** An ingest in progress. `total` is 0 and `expected` '' when unknown. */
export interface Status {
  ref: string;
  offset: number;
  total: number;
  expected: string;
  startedAt: bigint;
  updatedAt: bigint;
}

export interface ReadOptions {
  /** First byte to read; default 0. */
  offset?: number;
  /** Bytes to read; default (or 0) to the end. */
  size?: number;
}

/**
 * Reads committed blobs.
 *
 * - `info` throws `not_found` for an unknown digest.
 * - `read` streams the bytes in bounded chunks (never the whole blob in
 *   memory); `not_found` for an unknown digest, `out_of_range` for an offset
 *   beyond the end.
 */
export interface Provider {
  info(ctx: OpContext, digest: string): Promise<Info>;
  read(ctx: OpContext, digest: string, opts?: ReadOptions): AsyncIterable<Buffer>;
}

export interface WriterOptions {
  /** Names the ingest; a later writer with the same ref resumes it. */
  ref: string;
  /** Expected size, if known (0 = unknown). */
  total?: number;
  /** Expected digest, if known. */
  expected?: string;
}

/**
 * Writes one blob through an ingest. Only one writer may hold a ref at a
 * time: `writer` throws `unavailable` (`ref "x" locked`) while another does
 * (a store may first wait a moment for the holder to let go, as a client that
 * just half-closed a Write stream expects).
 * If `expected` names a blob that is already committed, `writer` throws
 * `already_exists` (clients treat that as success).
 *
 * Writes append at the current offset; after a crash or `close`, a new
 * writer for the ref resumes at the offset the ingest reached.
 */
export interface Ingester {
  writer(ctx: OpContext, opts: WriterOptions): Promise<Writer>;
}

export interface CommitOptions {
  labels?: Labels;
}

export interface Writer {
  readonly ref: string;
  status(): Promise<Status>;
  /** Appends `data` at the current offset. */
  write(data: Buffer): Promise<void>;
  /** Only 0 is supported: restarts the ingest from the beginning. */
  truncate(size: number): Promise<void>;
  /**
   * Verifies size (if > 0) and digest (if set), makes the blob durable and
   * visible under its digest, and removes the ingest. Throws
   * `failed_precondition` naming expected and actual on a mismatch, and
   * `already_exists` if the blob is already there. Always releases the
   * writer, even when it fails.
   */
  commit(size: number, expected?: string, opts?: CommitOptions): Promise<string>;
  /** The digest of what was written so far (after commit: of the blob). */
  digest(): string;
  /** Releases the ref lock; the ingest stays and can be resumed. */
  close(): Promise<void>;
}

/** Inspects and cancels ingests. */
export interface IngestManager {
  /** Throws `not_found` for an unknown ref. */
  status(ctx: OpContext, ref: string): Promise<Status>;
  listStatuses(ctx: OpContext, filters?: readonly string[]): Promise<Status[]>;
  /** Removes the ingest and its data; `not_found` for an unknown ref. */
  abort(ctx: OpContext, ref: string): Promise<void>;
}

/** Manages committed blobs. */
export interface Manager {
  info(ctx: OpContext, digest: string): Promise<Info>;
  /**
   * Updates labels. With `fieldpaths` (`labels`, `labels.<key>`) only those
   * change; otherwise all labels are replaced. Other paths: `invalid_argument`.
   */
  update(
    ctx: OpContext,
    info: Pick<Info, 'digest' | 'labels'>,
    fieldpaths?: readonly string[],
  ): Promise<Info>;
  list(ctx: OpContext, filters?: readonly string[]): Promise<Info[]>;
  /** `not_found` for an unknown digest. */
  delete(ctx: OpContext, digest: string): Promise<void>;
}

export type ContentStore = Provider & Ingester & IngestManager & Manager;
