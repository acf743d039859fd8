/**
 * @module
 * A root filesystem that is a directory on the client's host: the container's
 * `root.path` when it is absolute and the container has no snapshot (ctr's
 * `--rootfs`), read as containerd reads it.
 */
import { lstat, open, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { invalidArgument, resourceExhausted } from '../../core/errdefs/index.js';
import type { RootFS, RootNode } from './rootfs.js';

export class DirFS implements RootFS {
  readonly description: string;

  constructor(readonly root: string) {
    this.description = `rootfs "${root}"`;
  }

  async lstat(path: string): Promise<RootNode | undefined> {
    const full = join(this.root, path);
    try {
      const st = await lstat(full);
      if (st.isSymbolicLink()) return { type: 'symlink', linkname: await readlink(full) };
      if (st.isDirectory()) return { type: 'dir' };
      return { type: st.isFile() ? 'file' : 'other' };
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  async readFile(path: string, maxBytes: number): Promise<Buffer | undefined> {
    let handle: Awaited<ReturnType<typeof open>>;
    try {
      handle = await open(join(this.root, path), 'r');
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
    try {
      const st = await handle.stat();
      if (!st.isFile()) {
        throw invalidArgument(`reading "/${path}" in ${this.description}: not a regular file`);
      }
      if (st.size > maxBytes) {
        throw resourceExhausted(
          `reading "/${path}" in ${this.description}: ${st.size} bytes, over the limit of ${maxBytes}`,
        );
      }
      return await handle.readFile();
    } finally {
      await handle.close();
    }
  }
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
