import { open, stat } from 'node:fs/promises';

/** The `code` of a Node system error, if any. */
export function errnoCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

export function isENOENT(err: unknown): boolean {
  return errnoCode(err) === 'ENOENT';
}

export async function pathExists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if (isENOENT(err)) {
      return false;
    }
    throw err;
  }
}

/** fsyncs a directory, making renames into it durable. */
export async function syncDir(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
