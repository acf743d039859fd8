import { readdirSync } from 'node:fs';
import { isNotFound, kindOf, newError } from '../../core/errdefs/index.js';

/** `what: <cause>`, keeping the cause's kind (its status code). */
export function withContext(err: Error, what: string): Error {
  return newError(kindOf(err) ?? 'unknown', `${what}: ${err.message}`, { cause: err });
}

/** `p`'s value, or undefined when it fails `not_found` (gone already counts as done). */
export async function ignoreNotFound<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** The names in `dir`; none when it does not exist. */
export function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** Resolves after `ms`, without keeping the process alive. */
export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}

/** JSON.stringify's replacer for int64 fields: as decimal strings. */
export function bigintReplacer(_k: string, v: unknown): unknown {
  return typeof v === 'bigint' ? v.toString() : v;
}
