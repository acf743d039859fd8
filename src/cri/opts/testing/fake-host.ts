/**
 * An in-memory {@link SpecHost} for tests: directories, files, device
 * nodes and symlinks at absolute paths, and a mountinfo text.
 */
import { posix } from 'node:path';
import type { FileStat, SpecHost, SpecOptions } from '../types.js';

export type FakeNode =
  | { kind: 'dir' }
  | { kind: 'file'; content?: string }
  | {
      kind: 'chr' | 'blk' | 'fifo';
      major: number;
      minor: number;
      perm?: number;
      uid?: number;
      gid?: number;
    }
  | { kind: 'symlink'; target: string };

const TYPE_BITS = {
  dir: 0o040000,
  file: 0o100000,
  chr: 0o020000,
  blk: 0o060000,
  fifo: 0o010000,
  symlink: 0o120000,
};

/** Go's unix.Mkdev. */
export function mkdev(major: number, minor: number): bigint {
  const ma = BigInt(major);
  const mi = BigInt(minor);
  return ((ma & 0xfffn) << 8n) | ((ma & ~0xfffn) << 32n) | (mi & 0xffn) | ((mi & ~0xffn) << 12n);
}

export class FakeHost implements SpecHost {
  readonly nodes = new Map<string, FakeNode>([['/', { kind: 'dir' }]]);
  readonly created: string[] = [];
  mountInfoText = '';

  constructor(nodes: Record<string, FakeNode> = {}) {
    for (const [p, n] of Object.entries(nodes)) this.add(p, n);
  }

  add(path: string, node: FakeNode): this {
    let dir = posix.dirname(path);
    while (!this.nodes.has(dir)) {
      this.nodes.set(dir, { kind: 'dir' });
      dir = posix.dirname(dir);
    }
    this.nodes.set(path, node);
    return this;
  }

  #resolve(path: string, depth = 0): string | undefined {
    if (depth > 40) throw Object.assign(new Error('loop'), { code: 'ELOOP' });
    const parts = path.split('/').filter(Boolean);
    let cur = '/';
    for (const part of parts) {
      const next = posix.join(cur, part);
      const node = this.nodes.get(next);
      if (!node) return undefined;
      if (node.kind === 'symlink') {
        const r = this.#resolve(posix.resolve(cur, node.target), depth + 1);
        if (r === undefined) return undefined;
        cur = r;
      } else cur = next;
    }
    return cur;
  }

  async lstat(path: string): Promise<FileStat | undefined> {
    const parent = this.#resolve(posix.dirname(path));
    const node =
      parent === undefined ? undefined : this.nodes.get(posix.join(parent, posix.basename(path)));
    if (!node) return undefined;
    const dev = node.kind === 'chr' || node.kind === 'blk' || node.kind === 'fifo';
    return {
      mode: TYPE_BITS[node.kind] | (dev ? (node.perm ?? 0o666) : 0o755),
      rdev: dev ? mkdev(node.major, node.minor) : 0n,
      uid: dev ? (node.uid ?? 0) : 0,
      gid: dev ? (node.gid ?? 0) : 0,
    };
  }

  async isDirectory(path: string): Promise<boolean | undefined> {
    const r = this.#resolve(path);
    if (r === undefined) return undefined;
    return this.nodes.get(r)?.kind === 'dir';
  }

  async readDir(path: string): Promise<string[]> {
    const r = this.#resolve(path);
    if (r === undefined) throw Object.assign(new Error(`readdir ${path}`), { code: 'ENOENT' });
    const prefix = r === '/' ? '/' : `${r}/`;
    return [...this.nodes.keys()]
      .filter((p) => p.startsWith(prefix) && p !== r && !p.slice(prefix.length).includes('/'))
      .map((p) => p.slice(prefix.length))
      .reverse();
  }

  async realpath(path: string): Promise<string> {
    const r = this.#resolve(path);
    if (r === undefined) throw Object.assign(new Error(`realpath ${path}`), { code: 'ENOENT' });
    return r;
  }

  async mkdirAll(path: string): Promise<void> {
    this.created.push(path);
    this.add(path, { kind: 'dir' });
  }

  async readFile(path: string): Promise<Buffer> {
    const r = this.#resolve(path);
    const node = r === undefined ? undefined : this.nodes.get(r);
    if (!node) throw Object.assign(new Error(`open ${path}: ENOENT`), { code: 'ENOENT' });
    if (node.kind === 'dir')
      throw Object.assign(new Error(`read ${path}: EISDIR`), { code: 'EISDIR' });
    if (node.kind !== 'file') throw new Error(`${path} is not a regular file`);
    return Buffer.from(node.content ?? '');
  }

  async mountInfo(): Promise<string> {
    return this.mountInfoText;
  }
}

/** A mountinfo line for `mountPoint` with optional fields `optional` (e.g. `shared:1`). */
export function mountInfoLine(id: number, mountPoint: string, optional: string[] = []): string {
  return [`${id} 1 0:${id} / ${mountPoint} rw,relatime`, ...optional, '- ext4 /dev/sda1 rw'].join(
    ' ',
  );
}

/** Options for a plain test machine: amd64, kernel 6.1, cgroup v1, root's capabilities. */
export function testOptions(over: Partial<SpecOptions> = {}): SpecOptions {
  return {
    daemonCapabilities: ['CAP_CHOWN', 'CAP_SYS_ADMIN', 'CAP_NET_ADMIN', 'CAP_KILL'],
    cgroupV2: false,
    arch: 'x64',
    kernelVersion: { major: 6, minor: 1 },
    ...over,
  };
}
