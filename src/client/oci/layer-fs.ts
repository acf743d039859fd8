/**
 * @module
 * An image's root filesystem read straight from its layers in the content
 * store, without unpacking or mounting anything: what lets a client resolve
 * user and group names with no privileges.
 *
 * Layers are read from the top down, each only when a lookup gets to it:
 * its entries are indexed (names, types, link targets; no data) and the data
 * of a few wanted files (/etc/passwd, /etc/group) kept on the way, so the
 * common lookups read each layer once. Other files are read by reading their
 * layer again. The union follows the OCI layer rules as containerd applies
 * them: `.wh.<name>` deletes `<name>` (and all below it) from the layers
 * beneath, `.wh..wh..opq` hides everything beneath in its directory, an
 * entry that is not a directory hides what the layers beneath have under
 * its path, and the last of two entries of one path in a layer wins.
 */

import { decompress, readTar, type TarEntryType } from '../../archive/index.js';
import type { Descriptor } from '../../core/content/index.js';
import {
  dataLoss,
  invalidArgument,
  kindOf,
  newError,
  notFound,
  resourceExhausted,
} from '../../core/errdefs/index.js';
import { cleanEntryPath, type RootFS, type RootNode } from './rootfs.js';

const WHITEOUT_PREFIX = '.wh.';
const OPAQUE = '.wh..wh..opq';
/** Other `.wh..wh.` names are aufs metadata, skipped as containerd skips them. */
const AUFS_META_PREFIX = '.wh..wh.';

/** Reads a blob; a {@link SpecClient}'s readBlob. */
export type BlobReader = (
  desc: Descriptor,
  opts?: { signal?: AbortSignal },
) => AsyncIterable<Uint8Array>;

export interface LayerFSOptions {
  /** What the filesystem is, for messages (e.g. `image "docker.io/library/redis:alpine"`). */
  readonly description: string;
  /** Files whose data is kept while a layer is indexed (clean relative paths). */
  readonly keep?: readonly string[];
  /** The largest kept file. */
  readonly maxKeep?: number;
  readonly signal?: AbortSignal;
}

interface LayerEntry {
  readonly type: TarEntryType;
  readonly linkname: string;
  readonly size: number;
  /** Position in the layer's archive, to find this entry again. */
  readonly ordinal: number;
  data?: Buffer;
}

interface LayerIndex {
  readonly entries: Map<string, LayerEntry>;
  /** Paths deleted from the layers beneath. */
  readonly whiteouts: Set<string>;
  /** Directories whose contents beneath are hidden. */
  readonly opaque: Set<string>;
}

interface Found {
  readonly layer: number;
  readonly path: string;
  readonly entry: LayerEntry;
}

/** The most hardlinks followed to reach a file. */
const MAX_HARDLINKS = 32;

export class LayerFS implements RootFS {
  readonly description: string;
  /** The layers' digests: layers are content-addressed, so what they hold never changes. */
  readonly cacheKey: string;
  readonly #layers: readonly Descriptor[];
  readonly #read: BlobReader;
  readonly #keep: ReadonlySet<string>;
  readonly #maxKeep: number;
  readonly #signal: AbortSignal | undefined;
  readonly #indexes = new Map<number, Promise<LayerIndex>>();

  /** `layers` bottom first, as in a manifest. */
  constructor(layers: readonly Descriptor[], read: BlobReader, opts: LayerFSOptions) {
    this.#layers = layers;
    this.#read = read;
    this.description = opts.description;
    this.cacheKey = layers.map((l) => l.digest).join(',');
    this.#keep = new Set(opts.keep ?? []);
    this.#maxKeep = opts.maxKeep ?? 1 << 20;
    this.#signal = opts.signal;
  }

  async lstat(path: string): Promise<RootNode | undefined> {
    if (path === '') return { type: 'dir' };
    const found = await this.#find(path, this.#layers.length - 1);
    if (!found) return undefined;
    const { type, linkname } = found.entry;
    switch (type) {
      case 'symlink':
        return { type, linkname };
      case 'dir':
      case 'file':
        return { type };
      case 'hardlink': {
        const target = await this.#followHardlinks(found);
        return { type: target.entry.type === 'file' ? 'file' : 'other' };
      }
      default:
        return { type: 'other' };
    }
  }

  async readFile(path: string, maxBytes: number): Promise<Buffer | undefined> {
    const found = await this.#find(path, this.#layers.length - 1);
    if (!found) return undefined;
    const file = await this.#followHardlinks(found);
    if (file.entry.type !== 'file') {
      throw invalidArgument(`reading "/${path}" in ${this.description}: not a regular file`);
    }
    if (file.entry.size > maxBytes) {
      throw resourceExhausted(
        `reading "/${path}" in ${this.description}: ${file.entry.size} bytes, over the limit of ${maxBytes}`,
      );
    }
    return file.entry.data ?? this.#readEntry(file);
  }

  /**
   * The topmost entry at `path` in layers `top` and beneath, or undefined if
   * there is none or a layer deletes or hides it.
   */
  async #find(path: string, top: number): Promise<Found | undefined> {
    const ancestors = ancestorsOf(path);
    for (let layer = top; layer >= 0; layer--) {
      const index = await this.#index(layer);
      const entry = index.entries.get(path);
      if (entry) return { layer, path, entry };
      if (index.whiteouts.has(path)) return undefined;
      let hiddenBeneath = false;
      for (const dir of ancestors) {
        if (index.whiteouts.has(dir)) return undefined;
        const above = index.entries.get(dir);
        if (above && above.type !== 'dir') return undefined;
        if (index.opaque.has(dir)) hiddenBeneath = true;
      }
      if (hiddenBeneath) return undefined;
    }
    return undefined;
  }

  /** A hardlink's target: the path it names, in its own layer and beneath. */
  async #followHardlinks(found: Found): Promise<Found> {
    let current = found;
    for (let hops = 0; current.entry.type === 'hardlink'; hops++) {
      const target = cleanEntryPath(current.entry.linkname);
      const next =
        hops < MAX_HARDLINKS && target !== undefined
          ? await this.#find(target, current.layer)
          : undefined;
      if (!next) {
        throw notFound(
          `hardlink "/${current.path}" in ${this.description}: target "${current.entry.linkname}" does not exist`,
        );
      }
      current = next;
    }
    return current;
  }

  #index(layer: number): Promise<LayerIndex> {
    let index = this.#indexes.get(layer);
    if (!index) {
      index = this.#scan(layer);
      this.#indexes.set(layer, index);
    }
    return index;
  }

  async #scan(layer: number): Promise<LayerIndex> {
    const index: LayerIndex = { entries: new Map(), whiteouts: new Set(), opaque: new Set() };
    let ordinal = 0;
    for await (const { header, body } of this.#entries(layer)) {
      const at = ordinal++;
      const path = cleanEntryPath(header.name);
      if (path === undefined || path === '') continue;
      const slash = path.lastIndexOf('/');
      const base = path.slice(slash + 1);
      const dir = slash < 0 ? '' : path.slice(0, slash);
      if (base.startsWith(WHITEOUT_PREFIX)) {
        if (base === OPAQUE) index.opaque.add(dir);
        else if (!base.startsWith(AUFS_META_PREFIX)) {
          const name = base.slice(WHITEOUT_PREFIX.length);
          index.whiteouts.add(dir === '' ? name : `${dir}/${name}`);
        }
        continue;
      }
      const entry: LayerEntry = {
        type: header.type,
        linkname: header.linkname,
        size: header.size,
        ordinal: at,
      };
      if (header.type === 'file' && this.#keep.has(path) && header.size <= this.#maxKeep) {
        entry.data = await collect(body);
      }
      index.entries.set(path, entry);
    }
    return index;
  }

  async #readEntry(file: Found): Promise<Buffer> {
    let ordinal = 0;
    for await (const { body } of this.#entries(file.layer)) {
      // awaited inside the loop: leaving it closes the archive, and the body with it
      if (ordinal++ === file.entry.ordinal) return await collect(body);
    }
    throw dataLoss(
      `"/${file.path}" in ${this.description}: layer ${this.#layers[file.layer]?.digest} changed between two reads`,
    );
  }

  #entries(layer: number) {
    const desc = this.#layers[layer];
    if (!desc) throw invalidArgument(`${this.description}: no layer ${layer}`);
    this.#signal?.throwIfAborted();
    const opts = this.#signal ? { signal: this.#signal } : {};
    return withLayerContext(
      readTar(decompress(desc.mediaType, this.#read(desc, opts), opts)),
      desc,
    );
  }
}

/** `a/b/c` → `['a', 'a/b']`. */
function ancestorsOf(path: string): string[] {
  const out: string[] = [];
  for (let i = path.indexOf('/'); i >= 0; i = path.indexOf('/', i + 1)) out.push(path.slice(0, i));
  return out;
}

async function collect(body: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** Passes entries through, naming the layer in errors that do not name it. */
async function* withLayerContext<T>(
  source: AsyncGenerator<T, void, undefined>,
  desc: Descriptor,
): AsyncGenerator<T, void, undefined> {
  try {
    yield* source;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (message.includes(desc.digest)) throw err;
    throw newError(kindOf(err), `layer ${desc.digest}: ${message}`, { cause: err });
  }
}
