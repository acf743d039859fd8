/**
 * @module
 * The merged view of an overlay snapshot, computed from its layers without
 * mounting them: the upperdir (layer 0, written by the applier) over the
 * lowerdirs (layers 1…, top first, never written). The layer writer uses it
 * to write a layer straight into the upperdir (upper.ts), as containerd 1.6
 * does for a single overlay mount.
 *
 * overlayfs' rules, as the kernel applies them to the upper and lower
 * directories berth's snapshotter makes (no redirect_dir, metacopy or index
 * features; see apply.ts for when this view is used at all):
 * - a name in a directory is the topmost layer's entry among the layers
 *   merged for that directory; a 0/0 character device (a whiteout) hides it
 *   and everything below it;
 * - a directory merges with the same directory of the layers below it,
 *   down to (and including) the first one marked `trusted.overlay.opaque=y`
 *   or the first layer where the name is not a directory; the root merges
 *   all layers;
 * - the attributes of a merged directory are those of its topmost layer.
 *
 * Every layer is a RootFs (openat2 RESOLVE_IN_ROOT): the paths asked for are
 * the applier's resolved paths, whose components are directories in every
 * layer consulted, and nothing resolves outside a layer's root whatever the
 * layers hold.
 */
import { isErrno, S_IFCHR, S_IFDIR, S_IFMT, type Stat } from '../sys/linux.js';
import { RootFs } from '../sys/rootfs.js';
import { forgetUnder } from './paths.js';

export const OPAQUE_XATTR = 'trusted.overlay.opaque';

/** A visible entry: the layer it is in (0: the upper) and its lstat there. */
export interface Found {
  layer: number;
  st: Stat;
}

/** The kernel's whiteout: a character device 0/0. */
export function isWhiteout(st: Stat): boolean {
  return (st.mode & S_IFMT) === S_IFCHR && st.rdevMajor === 0 && st.rdevMinor === 0;
}

export class Union {
  readonly #layers: RootFs[];
  /** Directory path → the layers merged for it, topmost first; dropped when the upper changes. */
  readonly #stacks = new Map<string, number[]>();

  private constructor(layers: RootFs[]) {
    this.#layers = layers;
  }

  /** Opens the upperdir and the lowerdirs (top first): trusted host paths. */
  static open(upper: string, lowers: readonly string[]): Union {
    const layers: RootFs[] = [];
    try {
      layers.push(RootFs.open(upper));
      for (const l of lowers) layers.push(RootFs.open(l, { cacheSize: 4 }));
    } catch (err) {
      for (const r of layers) r.close();
      throw err;
    }
    return new Union(layers);
  }

  get upper(): RootFs {
    return this.#layers[0]!;
  }

  layer(i: number): RootFs {
    return this.#layers[i]!;
  }

  close(): void {
    for (const r of this.#layers) r.close();
  }

  /**
   * The upper changed at `path` (or below it) in a way that can change
   * merges (removals, whiteouts, opaque marks): the merges of `path` and of
   * the directories below it are computed again; those above and beside it
   * do not depend on it.
   */
  changed(path: string): void {
    forgetUnder(this.#stacks, path);
  }

  /** A directory was made in the upper at `dir`: its merge now starts there. */
  madeDir(dir: string): void {
    this.#stacks.delete(dir);
  }

  /** The visible entry at `name` in directory `dir` ('' = root); `below`: ignore the upper. */
  lookup(dir: string, name: string | Buffer, below = false): Found | undefined {
    const stack = this.stack(dir);
    if (stack === undefined) return undefined;
    const path = join(dir, name);
    for (const i of stack) {
      if (below && i === 0) continue;
      const st = this.#layers[i]!.tryLstat(path);
      if (st === undefined) continue;
      if (isWhiteout(st)) return undefined;
      return { layer: i, st };
    }
    return undefined;
  }

  /** The visible names of directory `dir`, raw. */
  readdir(dir: string): Buffer[] {
    const stack = this.stack(dir) ?? [];
    const seen = new Set<string>();
    const out: Buffer[] = [];
    for (const i of stack) {
      const layer = this.#layers[i]!;
      for (const raw of layer.readdir(dir)) {
        const key = raw.toString('latin1');
        if (seen.has(key)) continue;
        seen.add(key);
        const st = layer.tryLstat(dir === '' ? raw : Buffer.concat([Buffer.from(`${dir}/`), raw]));
        if (st !== undefined && !isWhiteout(st)) out.push(raw);
      }
    }
    return out;
  }

  /** The layers merged for directory `dir`, topmost first; undefined when `dir` is not a visible directory. */
  stack(dir: string): number[] | undefined {
    if (dir === '') return this.#layers.map((_, i) => i);
    const hit = this.#stacks.get(dir);
    if (hit !== undefined) return hit;
    const cut = dir.lastIndexOf('/');
    const parent = cut < 0 ? '' : dir.slice(0, cut);
    const above = this.stack(parent);
    if (above === undefined) return undefined;
    const out: number[] = [];
    for (const i of above) {
      const layer = this.#layers[i]!;
      const st = layer.tryLstat(dir);
      if (st === undefined) continue;
      if ((st.mode & S_IFMT) !== S_IFDIR) break; // a whiteout or a non-directory ends the merge
      out.push(i);
      if (opaque(layer, dir)) break;
    }
    if (out.length === 0) return undefined;
    this.#stacks.set(dir, out);
    return out;
  }
}

function opaque(layer: RootFs, dir: string): boolean {
  try {
    return layer.lgetxattr(dir, OPAQUE_XATTR).toString() === 'y';
  } catch (err) {
    if (isErrno(err, 'ENODATA', 'ENOTSUP', 'EOPNOTSUPP')) return false;
    throw err;
  }
}

function join(dir: string, name: string | Buffer): string | Buffer {
  if (typeof name === 'string') return dir === '' ? name : `${dir}/${name}`;
  return dir === '' ? name : Buffer.concat([Buffer.from(`${dir}/`), name]);
}
