import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmdirSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { alreadyExists, invalidArgument } from '../../core/errdefs/index.js';
import { validateIdentifier } from '../../core/identifiers/index.js';
import { isErrno } from '../../sys/linux.js';
import { unmountAll } from '../../sys/mount.js';
import { removeTree } from '../../sys/remove-tree.js';

/**
 * Files berth keeps in a bundle beside the shim's own (`address`, `log`,
 * `init.pid`, …): the runtime the task was created with, the shim binary
 * that ran it, and the exit of a shim that died.
 */
export const RUNTIME_FILE = 'runtime-name';
export const BINARY_FILE = 'shim-binary-path';
export const EXIT_FILE = 'exit';

/** Where bundles live: `<state>/<ns>/<id>` (volatile) and `<root>/<ns>/<id>` (the `work` dir). */
export interface BundleRoots {
  state: string;
  root: string;
}

/**
 * A task's bundle, as containerd lays it out:
 * `<state>/io.containerd.runtime.v2.task/<ns>/<id>/` holds `config.json` (the
 * container's spec, byte for byte), `rootfs/` (the shim mounts the rootfs
 * there) and `work`, a link to a directory under the persistent root that
 * the shim may keep files in. The shim adds `address`, `init.pid`, `log`, …
 */
export class Bundle {
  readonly path: string;

  constructor(
    readonly roots: BundleRoots,
    readonly namespace: string,
    readonly id: string,
  ) {
    this.path = join(roots.state, namespace, id);
  }

  get rootfs(): string {
    return join(this.path, 'rootfs');
  }

  get workDir(): string {
    return join(this.roots.root, this.namespace, this.id);
  }

  file(name: string): string {
    return join(this.path, name);
  }

  /**
   * Creates the bundle for a new task. A bundle left by an earlier task of
   * the same id is `already_exists`; a failure removes what was made.
   */
  static create(roots: BundleRoots, namespace: string, id: string, spec: Uint8Array): Bundle {
    try {
      validateIdentifier(id);
    } catch (err) {
      throw invalidArgument(`invalid task id ${id}: ${(err as Error).message}`, { cause: err });
    }
    const b = new Bundle(roots, namespace, id);
    mkdirSync(dirname(b.path), { recursive: true, mode: 0o711 });
    try {
      mkdirSync(b.path, { mode: 0o700 });
    } catch (err) {
      if (isErrno(err, 'EEXIST')) throw alreadyExists(`bundle for task ${id} exists`);
      throw err;
    }
    try {
      allowRemappedRoot(b.path, spec);
      mkdirSync(b.rootfs, { mode: 0o711 });
      mkdirSync(dirname(b.workDir), { recursive: true, mode: 0o711 });
      if (existsSync(b.workDir)) removeTree(b.workDir, roots.root);
      mkdirSync(b.workDir, { mode: 0o711 });
      symlinkSync(b.workDir, b.file('work'));
      writeFileSync(b.file('config.json'), spec, { mode: 0o666 });
    } catch (err) {
      b.delete();
      throw err;
    }
    return b;
  }

  /** The shim's ttrpc address, as the shim (or the daemon) wrote it. */
  readAddress(): string {
    return readFileSync(this.file('address'), 'utf8').trim();
  }

  writeFile(name: string, data: string | Uint8Array): void {
    writeFileSync(this.file(name), data, { mode: 0o600 });
  }

  readFile(name: string): string | undefined {
    try {
      return readFileSync(this.file(name), 'utf8');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    }
  }

  /**
   * Unmounts the rootfs and removes the bundle and its work dir. The bundle
   * is first renamed to `.<id>`, so a crash half-way leaves a hidden
   * directory the loader skips and removes, never a half bundle.
   */
  delete(): void {
    unmountAll(this.rootfs);
    try {
      rmdirSync(this.rootfs);
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
    let work: string | undefined;
    try {
      work = readlinkSync(this.file('work'));
    } catch {
      work = undefined;
    }
    atomicRemove(this.path, this.roots.state);
    // Only the work dir this bundle's link names, and only under our root.
    if (work === this.workDir) atomicRemove(this.workDir, this.roots.root);
  }
}

function atomicRemove(path: string, within: string): void {
  const hidden = join(dirname(path), `.${path.slice(dirname(path).length + 1)}`);
  try {
    renameSync(path, hidden);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return;
    throw err;
  }
  // Anything still mounted inside (a leaked rootfs) must not be walked into.
  unmountAll(join(hidden, 'rootfs'));
  removeTree(hidden, within);
}

/** Removes hidden leftovers of interrupted deletes under `<dir>`. */
export function removeHidden(dir: string, within: string, names: readonly string[]): void {
  for (const name of names) {
    if (!name.startsWith('.')) continue;
    const p = join(dir, name);
    unmountAll(join(p, 'rootfs'));
    removeTree(p, within);
  }
}

/**
 * With a user namespace, the container's root must be able to reach the
 * rootfs through the bundle: the bundle becomes 0710, group-owned by the
 * host gid mapped to the container's gid 0 (containerd does the same).
 */
function allowRemappedRoot(path: string, spec: Uint8Array): void {
  let parsed: { linux?: { gidMappings?: { containerID: number; hostID: number }[] } };
  try {
    parsed = JSON.parse(Buffer.from(spec).toString('utf8'));
  } catch (err) {
    throw invalidArgument(`container spec is not valid JSON: ${(err as Error).message}`);
  }
  const root = parsed.linux?.gidMappings?.find((m) => m.containerID === 0);
  if (root === undefined) return;
  chownSync(path, -1, root.hostID);
  chmodSync(path, 0o710);
}
