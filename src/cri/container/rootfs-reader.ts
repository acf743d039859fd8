/**
 * @module
 * Reads files of a container's root filesystem before it runs: the spec
 * builder needs the image's /etc/passwd and /etc/group to turn a user name
 * into ids, as containerd's WithUser/WithAdditionalGIDs do by mounting the
 * snapshot read-only for a moment. The snapshot is mounted on first read
 * and unmounted by {@link SnapshotFileReader.close}; every path resolves
 * inside the mount (openat2 RESOLVE_IN_ROOT), so no symlink in the image can
 * lead the read to the host.
 */
import { execFile } from 'node:child_process';
import { closeSync, fstatSync, mkdirSync, readSync, rmdirSync } from 'node:fs';
import { promisify } from 'node:util';
import type { Mount } from '../../core/mount/index.js';
import { isErrno, O_DIRECTORY, O_PATH, O_RDONLY } from '../../sys/linux.js';
import { mountAll, unmountAll } from '../../sys/mount.js';
import { RootFs } from '../../sys/rootfs.js';

const execFileP = promisify(execFile);

/** Files bigger than this are refused: these are small text files. */
export const MAX_ROOTFS_FILE = 4 << 20;

/** The mounts made read-only: `rw` dropped, `ro` added. */
export function readOnlyMounts(mounts: readonly Mount[]): Mount[] {
  return mounts.map((m) => ({
    ...m,
    options: [...m.options.filter((o) => o !== 'rw' && o !== 'ro'), 'ro'],
  }));
}

export class SnapshotFileReader {
  private root: RootFs | undefined;
  private mounted = false;

  /** `target` is an empty directory of the caller's, made here if missing. */
  constructor(
    private readonly mounts: readonly Mount[],
    private readonly target: string,
  ) {}

  async readFile(path: string): Promise<Buffer | undefined> {
    const root = this.open();
    const rel = path.replace(/^\/+/, '');
    let fd: number;
    try {
      fd = root.open(rel, O_RDONLY);
    } catch (err) {
      if (isErrno(err, 'ENOENT', 'ENOTDIR')) return undefined;
      throw err;
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw new Error(`${path} in the container's rootfs is not a regular file`);
      if (st.size > MAX_ROOTFS_FILE) {
        throw new Error(
          `${path} in the container's rootfs is larger than ${MAX_ROOTFS_FILE} bytes`,
        );
      }
      const buf = Buffer.alloc(st.size);
      let off = 0;
      while (off < buf.length) {
        const n = readSync(fd, buf, off, buf.length - off, off);
        if (n === 0) break;
        off += n;
      }
      return buf.subarray(0, off);
    } finally {
      closeSync(fd);
    }
  }

  /**
   * Copies the directory at `path` in the rootfs, with owners, modes and
   * links, into the existing directory `dest` (containerd's WithVolumes
   * copying an image VOLUME's content). Nothing to do when the image has
   * no directory there.
   */
  async copyDirInto(path: string, dest: string): Promise<void> {
    const root = this.open();
    let fd: number;
    try {
      fd = root.open(path.replace(/^\/+/, ''), O_PATH | O_DIRECTORY);
    } catch (err) {
      if (isErrno(err, 'ENOENT', 'ENOTDIR')) return;
      throw err;
    }
    try {
      // The fd pins the directory resolved inside the root; cp reads it through /proc.
      await execFileP('cp', ['-a', '--', `/proc/${process.pid}/fd/${fd}/.`, dest]);
    } finally {
      closeSync(fd);
    }
  }

  /** Unmounts and removes the mount point; idempotent. */
  close(): void {
    this.root?.close();
    this.root = undefined;
    if (this.mounted) {
      unmountAll(this.target);
      this.mounted = false;
    }
    try {
      rmdirSync(this.target);
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
  }

  private open(): RootFs {
    if (this.root) return this.root;
    mkdirSync(this.target, { recursive: true });
    mountAll(readOnlyMounts(this.mounts), this.target);
    this.mounted = true;
    this.root = RootFs.open(this.target);
    return this.root;
  }
}
