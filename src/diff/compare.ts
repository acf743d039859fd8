/**
 * @module
 * The walking differ's Compare (containerd's diff/walking + archive.WriteDiff):
 * walks `lower` and `upper` side by side in byte order of names and writes a
 * PAX tar of what changed, through a DigestStream (the diffID), gzip by
 * default, into a content ingest; commits it with `containerd.io/uncompressed`.
 *
 * - Added or modified entries are written with their parents' directory
 *   headers first (as containerd's includeParents); deletions become
 *   `.wh.<name>` files. No opaque markers: containerd 1.6's walking differ
 *   writes none (a deleted directory is one whiteout).
 * - "Modified" compares type, mode, owner, device, size, mtime (ns), symlink
 *   target and xattrs; file contents are not read when those are equal.
 * - Kept beyond containerd (which writes only security.capability): every
 *   xattr except `trusted.overlay.*` and `security.selinux`, binary-safe;
 *   mtimes keep their nanoseconds. Sockets are skipped. Hardlinks among the
 *   written entries are written as hardlinks.
 * - Mounts: a single bind mount is read in place; others are mounted
 *   read-only on temp directories, and always unmounted.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants as fsConstants, openSync, readSync } from 'node:fs';
import {
  compress,
  DigestStream,
  MEDIA_TYPES,
  type TarWriteEntry,
  writeTar,
} from '../archive/index.js';
import type { ContentStore, Descriptor } from '../core/content/index.js';
import { type CompareOptions, type Comparer, UNCOMPRESSED_LABEL } from '../core/diff/index.js';
import { invalidArgument, isAlreadyExists, notImplemented } from '../core/errdefs/index.js';
import type { Mount } from '../core/mount/index.js';
import type { OpContext } from '../core/namespaces/index.js';
import { withTempMount } from './temp-mount.js';
import { changes, type Entry } from './walk.js';

export interface WalkingComparerOptions {
  tempDir: string;
}

export class WalkingComparer implements Comparer {
  readonly #store: Pick<ContentStore, 'writer' | 'info' | 'update' | 'abort'>;
  readonly #tempDir: string;

  constructor(
    store: Pick<ContentStore, 'writer' | 'info' | 'update' | 'abort'>,
    opts: WalkingComparerOptions,
  ) {
    this.#store = store;
    this.#tempDir = opts.tempDir;
  }

  async compare(
    ctx: OpContext,
    lower: Mount[],
    upper: Mount[],
    opts: CompareOptions = {},
  ): Promise<Descriptor> {
    const mediaType = opts.mediaType || MEDIA_TYPES.ociLayerGzip;
    if (mediaType !== MEDIA_TYPES.ociLayerGzip && mediaType !== MEDIA_TYPES.ociLayer) {
      throw notImplemented(`unsupported diff media type: ${mediaType}`);
    }
    if (upper.length === 0) throw invalidArgument('diff: no upper mounts');
    return this.#mounted(lower, (lowerDir) =>
      this.#mounted(upper, (upperDir) => this.#write(ctx, lowerDir, upperDir, mediaType, opts)),
    );
  }

  async #mounted<T>(mounts: Mount[], fn: (dir: string) => Promise<T>): Promise<T> {
    const only = mounts[0];
    if (mounts.length === 1 && only && (only.type === 'bind' || only.type === 'rbind'))
      return fn(only.source);
    return withTempMount(this.#tempDir, mounts, fn, { readonly: true });
  }

  async #write(
    ctx: OpContext,
    lowerDir: string,
    upperDir: string,
    mediaType: string,
    opts: CompareOptions,
  ): Promise<Descriptor> {
    const fresh = !opts.ref;
    const ref = opts.ref || `${process.hrtime.bigint()}-${randomBytes(3).toString('base64url')}`;
    const writer = await this.#store.writer(ctx, { ref });
    let committed = false;
    try {
      if (!fresh) await writer.truncate(0);
      const tar = new DigestStream(writeTar(entries(lowerDir, upperDir)));
      const out =
        mediaType === MEDIA_TYPES.ociLayerGzip
          ? compress('gzip', tar, { signal: ctx.signal })
          : tar;
      for await (const chunk of out) await writer.write(chunk);
      const labels = { ...opts.labels, [UNCOMPRESSED_LABEL]: tar.digest };
      const digest = writer.digest();
      try {
        await writer.commit(0, digest, { labels });
      } catch (err) {
        if (!isAlreadyExists(err)) throw err;
      }
      committed = true;
      const info = await this.#store.info(ctx, digest);
      if (!info.labels[UNCOMPRESSED_LABEL]) {
        await this.#store.update(ctx, { digest, labels: { [UNCOMPRESSED_LABEL]: tar.digest } }, [
          `labels.${UNCOMPRESSED_LABEL}`,
        ]);
      }
      return { mediaType, digest, size: info.size };
    } finally {
      if (!committed) {
        await writer.close().catch(() => {});
        if (fresh) await this.#store.abort(ctx, ref).catch(() => {});
      }
    }
  }
}

/** The tar entries of the changes from `lowerDir` to `upperDir`. */
async function* entries(lowerDir: string, upperDir: string): AsyncGenerator<TarWriteEntry> {
  const whiteoutTime = { sec: Math.floor(Date.now() / 1000), nsec: 0 };
  const emittedDirs = new Set<string>(['']);
  const links = new Map<bigint, string>();
  for (const c of changes(lowerDir, upperDir)) {
    for (const parent of parents(c.path)) {
      if (emittedDirs.has(parent)) continue;
      emittedDirs.add(parent);
      const e = c.parentEntry(parent);
      yield { header: header(parent, e) };
    }
    if (c.kind === 'delete') {
      const i = c.path.lastIndexOf('/');
      const name = i < 0 ? `.wh.${c.path}` : `${c.path.slice(0, i)}/.wh.${c.path.slice(i + 1)}`;
      yield { header: { name, type: 'file', mode: 0, size: 0, mtime: whiteoutTime } };
      continue;
    }
    const e = c.entry;
    if (e.type === 'dir') emittedDirs.add(c.path);
    if (e.type === 'file' && e.nlink > 1) {
      const first = links.get(e.ino);
      if (first !== undefined) {
        yield { header: { ...header(c.path, e), type: 'hardlink', linkname: first, size: 0 } };
        continue;
      }
      links.set(e.ino, c.path);
    }
    yield {
      header: header(c.path, e),
      ...(e.type === 'file' ? { body: readFile(e.abs, e.size) } : {}),
    };
  }
}

function header(path: string, e: Entry) {
  return {
    name: e.type === 'dir' ? `${path}/` : path,
    type: e.type,
    mode: e.mode & 0o7777,
    uid: e.uid,
    gid: e.gid,
    size: e.type === 'file' ? e.size : 0,
    mtime: e.mtime,
    ...(e.type === 'symlink' ? { linkname: e.linkname } : {}),
    ...(e.type === 'char' || e.type === 'block'
      ? { devmajor: e.rdevMajor, devminor: e.rdevMinor }
      : {}),
    xattrs: e.xattrs,
  } as const;
}

/** The ancestors of `path`, outermost first, without the root. */
function parents(path: string): string[] {
  const out: string[] = [];
  for (let i = path.indexOf('/'); i >= 0; i = path.indexOf('/', i + 1)) out.push(path.slice(0, i));
  return out;
}

/** A file's bytes in 1 MiB chunks, never following a symlink; exactly `size` bytes (the header's). */
async function* readFile(abs: string, size: number): AsyncGenerator<Buffer> {
  const fd = openSync(abs, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
  try {
    let left = size;
    while (left > 0) {
      const buf = Buffer.allocUnsafe(Math.min(left, 1 << 20));
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) throw invalidArgument(`diff: ${abs} shrank while being read`);
      left -= n;
      yield buf.subarray(0, n);
    }
  } finally {
    closeSync(fd);
  }
}
