import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { chmod, type FileHandle, open, readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type {
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
  invalidArgument,
  notFound,
  notImplemented,
  unavailable,
} from '../core/errdefs/index.js';
import { fieldsAdaptor, parseFilters } from '../core/filters/index.js';
import { type Logger, nullLogger } from '../core/log/index.js';
import type { OpContext } from '../core/namespaces/index.js';
import { removeTree } from '../sys/remove-tree.js';
import { errnoCode, isENOENT, pathExists } from './fsutil.js';
import {
  type Cleanup,
  cleanupIngests,
  createIngest,
  readIngest,
  writeIngestFile,
} from './ingest.js';
import { HEX64, type Layout, layout } from './layout.js';
import { lock, unlock } from './locks.js';
import { readBlob } from './reader.js';
import { LocalWriter, rehash } from './writer.js';

export interface LocalContentStoreOptions {
  /** Where the open-time cleanup is reported; defaults to nowhere. */
  log?: Logger;
}

/**
 * The file-based content store, in containerd's layout (see layout.ts) under
 * `root` = `<berth root>/io.containerd.content.v1.content`. It is not
 * namespaced and keeps no labels: the metadata store wraps it for both.
 *
 * Crash safety (kill -9 or power loss at any point):
 * - a blob appears under `blobs/` only by the atomic rename of fsynced data
 *   whose digest was verified, then the directory is fsynced: no blob ever
 *   holds bytes that differ from its name;
 * - an ingest's offset is its data file's size and a resumed writer re-hashes
 *   the file, so an ingest resumes from whatever reached the disk;
 * - opening the store removes the leftovers of interrupted operations
 *   ({@link Cleanup}); the result is in {@link LocalContentStore.cleaned}.
 *
 * Open one store per root per process: opening a second while the first is
 * creating an ingest could remove that half-made ingest. (Ref locks are
 * shared by all stores on a root in the process.)
 */
export class LocalContentStore implements ContentStore {
  /** What opening the store cleaned up. */
  readonly cleaned: Cleanup;
  private readonly layout: Layout;

  constructor(root: string, options: LocalContentStoreOptions = {}) {
    this.layout = layout(root);
    mkdirSync(this.layout.blobs, { recursive: true, mode: 0o755 });
    mkdirSync(this.layout.ingests, { recursive: true, mode: 0o755 });
    this.cleaned = cleanupIngests(this.layout);
    const { partial, unusable, temps } = this.cleaned;
    if (partial + unusable + temps > 0) {
      (options.log ?? nullLogger).info(
        { root: this.layout.root, ...this.cleaned },
        'content: removed leftovers of interrupted ingests',
      );
    }
  }

  /** The store root, absolute. */
  get root(): string {
    return this.layout.root;
  }

  // Provider and Manager

  async info(_ctx: OpContext, digest: string): Promise<Info> {
    const path = this.layout.blobPath(digest);
    try {
      return toInfo(digest, await stat(path, { bigint: true }));
    } catch (err) {
      if (isENOENT(err)) {
        throw notFound(`content ${digest}`, { cause: err });
      }
      throw err;
    }
  }

  read(ctx: OpContext, digest: string, opts: ReadOptions = {}): AsyncIterable<Buffer> {
    const { layout: lay } = this;
    return (async function* () {
      yield* readBlob(lay.blobPath(digest), digest, opts, ctx.signal);
    })();
  }

  /**
   * Labels live in the metadata store; this store's blobs carry none. Throws
   * `not_implemented` (containerd's unlabelled local store answers
   * `failed_precondition`, "update not supported on immutable content store").
   */
  async update(_ctx: OpContext, info: Pick<Info, 'digest' | 'labels'>): Promise<Info> {
    validateDigest(info.digest);
    throw notImplemented(
      `content ${info.digest}: the local content store keeps no labels; update them through the metadata store`,
    );
  }

  /**
   * Filters see containerd's content fields: `digest`, `size` (decimal; a
   * berth addition, containerd leaves it unimplemented) and `labels.*`
   * (always empty here). Sorted by digest.
   */
  async list(_ctx: OpContext, filters: readonly string[] = []): Promise<Info[]> {
    const filter = parseFilters(filters);
    const names = await readdir(this.layout.blobs);
    const infos = await Promise.all(
      names
        .filter((name) => HEX64.test(name))
        .map(async (name) => {
          const digest = `sha256:${name}`;
          try {
            const st = await stat(join(this.layout.blobs, name), { bigint: true });
            return st.isFile() ? toInfo(digest, st) : undefined;
          } catch (err) {
            if (isENOENT(err)) return undefined; // deleted while listing
            throw err;
          }
        }),
    );
    return infos
      .filter((info): info is Info => info !== undefined)
      .filter(({ digest, size, labels }) => filter.match(fieldsAdaptor({ digest, size, labels })))
      .sort((a, b) => (a.digest < b.digest ? -1 : 1));
  }

  /** Unlinks the blob; readers that have it open read on to the end. */
  async delete(_ctx: OpContext, digest: string): Promise<void> {
    try {
      await unlink(this.layout.blobPath(digest));
    } catch (err) {
      if (isENOENT(err)) {
        throw notFound(`content ${digest}`, { cause: err });
      }
      throw err;
    }
  }

  // Ingester

  /**
   * Opens (or resumes) the ingest for `opts.ref`, as containerd's local store:
   * - `unavailable` (`ref "x" locked`) while another writer holds the ref
   *   (after waiting up to LOCK_WAIT_MS for it to be released);
   * - `already_exists` when `expected` is a committed blob; any ingest for
   *   the ref is left alone (containerd's content service aborts it);
   * - an existing ingest resumes at its data size, its hash rebuilt by
   *   re-reading the data. A `total` or `expected` that contradicts the
   *   recorded one restarts the ingest from zero (containerd recreates it);
   *   one the ingest lacks is recorded;
   * - an unusable ingest directory (no data or ref) is replaced.
   */
  async writer(ctx: OpContext, opts: WriterOptions): Promise<Writer> {
    const { ref } = opts;
    const total = opts.total ?? 0;
    const expected = opts.expected ?? '';
    if (typeof ref !== 'string' || ref === '') {
      throw invalidArgument('ref must not be empty');
    }
    if (!Number.isSafeInteger(total) || total < 0) {
      throw invalidArgument(`ingest ref ${JSON.stringify(ref)}: invalid total ${total}`);
    }
    if (expected !== '') {
      validateDigest(expected);
    }
    const { root } = this.layout;
    if (!(await lock(root, ref))) {
      throw unavailable(`ref ${JSON.stringify(ref)} locked`);
    }
    try {
      if (expected !== '' && (await pathExists(this.layout.blobPath(expected)))) {
        throw alreadyExists(`content ${expected}`);
      }
      return await this.openWriter(ctx, ref, total, expected);
    } catch (err) {
      unlock(root, ref);
      throw err;
    }
  }

  /** The caller holds the ref lock; the writer takes it over. */
  private async openWriter(
    ctx: OpContext,
    ref: string,
    total: number,
    expected: string,
  ): Promise<Writer> {
    const lay = this.layout;
    const dir = lay.ingestDir(ref);
    const log = ctx.log;
    const base = { layout: lay, ref, dir, log, release: () => unlock(lay.root, ref) };
    const found = await readIngest(dir, ref);
    if (found !== undefined) {
      const conflict =
        (total > 0 && found.total > 0 && total !== found.total) ||
        (expected !== '' && found.expected !== '' && expected !== found.expected);
      if (!conflict) {
        if (total > 0 && found.total === 0) await writeIngestFile(dir, 'total', String(total));
        if (expected !== '' && found.expected === '') {
          await writeIngestFile(dir, 'expected', expected);
        }
        const handle = await openData(join(dir, 'data'));
        try {
          const { hash, offset } = await rehash(handle, ctx.signal);
          return new LocalWriter({
            ...base,
            handle,
            hash,
            offset,
            total: total || found.total,
            expected: expected || found.expected,
            startedAt: found.startedAt,
            updatedAt: found.updatedAt,
          });
        } catch (err) {
          await handle.close().catch(() => {});
          throw err;
        }
      }
      log.info(
        { ref, total, expected, recordedTotal: found.total, recordedExpected: found.expected },
        'content: writer contradicts the recorded ingest; restarting it',
      );
    }
    // Nothing usable: remove whatever is there (a torn or contradicted ingest).
    removeTree(dir, lay.root);
    const { handle, startedAt } = await createIngest(lay, ref, total, expected);
    return new LocalWriter({
      ...base,
      handle,
      hash: createHash('sha256'),
      offset: 0,
      total,
      expected,
      startedAt,
      updatedAt: startedAt,
    });
  }

  // IngestManager

  async status(_ctx: OpContext, ref: string): Promise<Status> {
    const status = await readIngest(this.layout.ingestDir(ref), ref);
    if (status === undefined) {
      throw notFound(`ingest ref ${JSON.stringify(ref)}`);
    }
    return status;
  }

  /** Filters see containerd's status field `ref`. Sorted by ref. */
  async listStatuses(_ctx: OpContext, filters: readonly string[] = []): Promise<Status[]> {
    const filter = parseFilters(filters);
    const names = await readdir(this.layout.ingests);
    const statuses = await Promise.all(
      names
        .filter((name) => HEX64.test(name))
        .map((name) => readIngest(join(this.layout.ingests, name))),
    );
    return statuses
      .filter((s): s is Status => s !== undefined)
      .filter((s) => filter.match(fieldsAdaptor({ ref: s.ref })))
      .sort((a, b) => (a.ref < b.ref ? -1 : a.ref > b.ref ? 1 : 0));
  }

  /**
   * Removes the ingest. As in containerd this does not wait for or refuse an
   * active writer: its data file is unlinked under it, so its commit fails
   * (`not_found`) and no blob appears.
   */
  async abort(_ctx: OpContext, ref: string): Promise<void> {
    const dir = this.layout.ingestDir(ref);
    try {
      await stat(dir);
    } catch (err) {
      if (isENOENT(err)) {
        throw notFound(`ingest ref ${JSON.stringify(ref)}`, { cause: err });
      }
      throw err;
    }
    removeTree(dir, this.layout.root);
  }
}

function toInfo(digest: string, st: { size: bigint; mtimeNs: bigint }): Info {
  // Blobs never change after commit, which sets mtime to the commit time.
  return {
    digest,
    size: Number(st.size),
    createdAt: st.mtimeNs,
    updatedAt: st.mtimeNs,
    labels: {},
  };
}

/**
 * Opens an ingest's data file for reading (re-hash) and positional writes. A
 * crash between a commit's chmod and its rename can leave it read-only.
 */
async function openData(path: string): Promise<FileHandle> {
  try {
    return await open(path, 'r+');
  } catch (err) {
    if (errnoCode(err) !== 'EACCES') throw err;
    await chmod(path, 0o644);
    return await open(path, 'r+');
  }
}
