import { lstatSync, readdirSync, unlinkSync } from 'node:fs';
import {
  chmod,
  type FileHandle,
  mkdtemp,
  open,
  readFile,
  rename,
  stat,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import type { Status } from '../core/content/index.js';
import { nowNanos } from '../core/time/index.js';
import { removeTree } from '../sys/remove-tree.js';
import { isENOENT } from './fsutil.js';
import { HEX64, type Layout, NEW_INGEST_PREFIX } from './layout.js';
import { formatTimestamp, parseTimestamp } from './timestamp.js';

const SHA256 = /^sha256:[a-f0-9]{64}$/;

/**
 * Reads the status of the ingest in `dir`, or undefined when there is no
 * usable ingest there: no directory, no `data` or `ref` (torn, or a commit
 * that has renamed `data` away), or a `ref` other than `ref` when given.
 *
 * The offset is the size of `data`: writes go straight to the file, so it is
 * current even while a writer is active, and after a crash it is what a
 * resumed writer continues from. `updatedat` is written at creation and when a
 * writer that wrote closes (precise, where the mtime is the coarse clock);
 * the data file's mtime is newer once anything was written (containerd reads
 * it the same way). Unreadable times fall back to the data file's times and
 * unreadable `total`/`expected` to unknown, so a damaged ingest still resumes.
 */
export async function readIngest(dir: string, ref?: string): Promise<Status | undefined> {
  const data = await orUndefined(stat(join(dir, 'data'), { bigint: true }));
  if (data === undefined) {
    return undefined;
  }
  const [recorded, started, updated, total, expected] = await Promise.all([
    orUndefined(readFile(join(dir, 'ref'), 'utf8')),
    orUndefined(readFile(join(dir, 'startedat'), 'utf8')),
    orUndefined(readFile(join(dir, 'updatedat'), 'utf8')),
    orUndefined(readFile(join(dir, 'total'), 'utf8')),
    orUndefined(readFile(join(dir, 'expected'), 'utf8')),
  ]);
  if (recorded === undefined || recorded === '' || (ref !== undefined && recorded !== ref)) {
    return undefined;
  }
  const startedAt = parseTime(started) ?? (data.birthtimeNs > 0n ? data.birthtimeNs : data.mtimeNs);
  const updatedAt = latest(parseTime(updated) ?? 0n, data.mtimeNs, startedAt);
  const totalN = total === undefined ? 0 : Number(total.trim());
  return {
    ref: recorded,
    offset: Number(data.size),
    total: Number.isSafeInteger(totalN) && totalN > 0 ? totalN : 0,
    expected: expected !== undefined && SHA256.test(expected.trim()) ? expected.trim() : '',
    startedAt,
    updatedAt,
  };
}

/**
 * Creates the ingest for `ref` and returns its data file, open for writing.
 * The directory is assembled under `ingest/.new-*` and renamed into place, so
 * `ingest/<hex>/` never exists half-made: after a crash it is either absent
 * or complete. The caller holds the ref lock and has removed any unusable
 * directory for the ref.
 */
export async function createIngest(
  lay: Layout,
  ref: string,
  total: number,
  expected: string,
): Promise<{ handle: FileHandle; startedAt: bigint }> {
  const tmp = await mkdtemp(join(lay.ingests, NEW_INGEST_PREFIX));
  let handle: FileHandle | undefined;
  try {
    const startedAt = nowNanos();
    const stamp = formatTimestamp(startedAt);
    const files: Promise<void>[] = [
      writeFile(join(tmp, 'ref'), ref),
      writeFile(join(tmp, 'startedat'), stamp),
      writeFile(join(tmp, 'updatedat'), stamp),
      chmod(tmp, 0o755),
    ];
    if (total > 0) files.push(writeFile(join(tmp, 'total'), String(total)));
    if (expected !== '') files.push(writeFile(join(tmp, 'expected'), expected));
    await Promise.all(files);
    handle = await open(join(tmp, 'data'), 'wx', 0o644);
    // The handle stays valid across the rename of its directory.
    await rename(tmp, lay.ingestDir(ref));
    return { handle, startedAt };
  } catch (err) {
    await handle?.close().catch(() => {});
    removeTree(tmp, lay.root);
    throw err;
  }
}

/**
 * Replaces one small file of an ingest atomically (write `<name>.tmp`, rename),
 * so a crash leaves the old or the new value, never a torn one.
 */
export async function writeIngestFile(dir: string, name: string, value: string): Promise<void> {
  const tmp = join(dir, `${name}.tmp`);
  await writeFile(tmp, value);
  await rename(tmp, join(dir, name));
}

/** What {@link cleanupIngests} removed. */
export interface Cleanup {
  /** `ingest/.new-*` directories: creations cut short. */
  partial: number;
  /** `ingest/<hex>/` without `data` or `ref`: commit leftovers and torn ingests. */
  unusable: number;
  /** `ingest/<hex>/*.tmp`: metadata updates cut short. */
  temps: number;
}

/**
 * Removes what a crash can leave in `ingest/` (see {@link Cleanup}); complete
 * ingests stay and resume from their data size. Entries whose names berth
 * does not make are left alone. `blobs/` needs no cleanup: a blob only ever
 * appears there by an atomic rename of verified, fsynced data.
 *
 * Synchronous: it runs once, when the store opens, before any writer exists.
 */
export function cleanupIngests(lay: Layout): Cleanup {
  const done: Cleanup = { partial: 0, unusable: 0, temps: 0 };
  for (const name of readdirSync(lay.ingests)) {
    const path = join(lay.ingests, name);
    if (name.startsWith(NEW_INGEST_PREFIX)) {
      removeTree(path, lay.root);
      done.partial++;
      continue;
    }
    if (!HEX64.test(name) || !lstatSync(path).isDirectory()) {
      continue;
    }
    const entries = readdirSync(path);
    if (!entries.includes('data') || !entries.includes('ref')) {
      removeTree(path, lay.root);
      done.unusable++;
      continue;
    }
    for (const entry of entries) {
      if (entry.endsWith('.tmp')) {
        unlinkSync(join(path, entry));
        done.temps++;
      }
    }
  }
  return done;
}

async function orUndefined<T>(promise: Promise<T>): Promise<T | undefined> {
  try {
    return await promise;
  } catch (err) {
    if (isENOENT(err) || (err as { code?: unknown }).code === 'ENOTDIR') {
      return undefined;
    }
    throw err;
  }
}

function parseTime(text: string | undefined): bigint | undefined {
  return text === undefined ? undefined : parseTimestamp(text);
}

/** The latest of some times (Math.max does not take bigints). */
function latest(first: bigint, ...rest: bigint[]): bigint {
  let max = first;
  for (const value of rest) {
    if (value > max) max = value;
  }
  return max;
}
