/**
 * @module
 * Small helpers of the container service: error wording, bounded waits,
 * image references, orphaned directories.
 */

import type { Dirent } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { isNotFound } from '../../core/errdefs/index.js';
import type { Logger } from '../../core/log/index.js';
import { removeTree } from '../../sys/remove-tree.js';

/** `err` with `prefix: ` before its message, its kind kept (containerd's `fmt.Errorf("…: %w")`). */
export function withMessage(err: unknown, prefix: string): unknown {
  if (err instanceof Error) {
    err.message = `${prefix}: ${err.message}`;
    return err;
  }
  return new Error(`${prefix}: ${String(err)}`);
}

export function ignoreNotFound(err: unknown): undefined {
  if (isNotFound(err)) return undefined;
  throw err;
}

/** Resolves when `p` settles or after `ms`, whichever is first. */
export async function bounded(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    p.catch(() => {}),
    new Promise((r) => {
      timer = setTimeout(r, ms);
    }),
  ]);
  clearTimeout(timer);
}

/** Tags and repo digests among an image's references (the id is neither). */
export function splitReferences(refs: readonly string[]): {
  repoTags: string[];
  repoDigests: string[];
} {
  const repoTags: string[] = [];
  const repoDigests: string[] = [];
  for (const r of refs) {
    if (r.includes('@')) repoDigests.push(r);
    else if (!/^sha256:[0-9a-f]+$/.test(r)) repoTags.push(r);
  }
  return { repoTags, repoDigests };
}

/** `env` with `kv` set, replacing an entry of the same name. */
export function withEnv(env: readonly string[], kv: string): string[] {
  const key = kv.slice(0, kv.indexOf('=') + 1);
  return [...env.filter((e) => !e.startsWith(key)), kv];
}

/** Removes the directories under `base` whose names are not in `ids` (containerd's cleanupOrphanedIDDirs). */
export async function cleanupOrphans(base: string, ids: Set<string>, log: Logger): Promise<void> {
  let entries: Dirent[];
  try {
    entries = await readdir(base, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  for (const e of entries) {
    if (!e.isDirectory() || ids.has(e.name)) continue;
    const dir = join(base, e.name);
    try {
      removeTree(dir, base);
    } catch (err) {
      log.warn({ err, dir }, 'removing an orphaned container directory');
    }
  }
}
