/**
 * An in-memory registry behind core's Resolver contract, for the image
 * operations' tests (the real registry client is src/remotes'): blobs by
 * digest, tags by full reference, fetches and pushes recorded, and faults
 * to inject (a blob served corrupt, a transfer cut after n bytes). Plus a
 * builder of small images (layers written with src/archive, gzip) into it.
 */
import { createHash } from 'node:crypto';
import { compress, type TarWriteEntry, writeTar } from '../../src/archive/index.js';
import type { Descriptor } from '../../src/core/content/index.js';
import { failedPrecondition, notFound, unavailable } from '../../src/core/errdefs/index.js';
import type {
  Fetcher,
  FetchOptions,
  Pusher,
  PushOptions,
  Resolved,
  Resolver,
} from '../../src/core/remotes/index.js';

export const sha256 = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function collect(source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of source) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

/** `host/path` of a reference (tag and digest dropped). */
export function repoOf(ref: string): string {
  const name = ref.split('@')[0]!;
  const colon = name.lastIndexOf(':');
  return colon > name.lastIndexOf('/') ? name.slice(0, colon) : name;
}

export interface Fetched {
  digest: string;
  offset: number;
}

export interface PushRecord {
  ref: string;
  desc: Descriptor;
  mountFrom: readonly string[];
  /** True when the blob was taken from another repository instead of uploaded. */
  mounted: boolean;
}

export class MemoryRegistry {
  readonly blobs = new Map<string, Buffer>();
  readonly tags = new Map<string, Descriptor>();
  readonly fetched: Fetched[] = [];
  readonly pushes: PushRecord[] = [];
  /** Digests served with one byte flipped. */
  readonly corrupt = new Set<string>();
  /** Digest → bytes after which the next fetch of it fails `unavailable` (once). */
  readonly cutAfter = new Map<string, number>();
  /** Repositories (`host/path`) that hold each digest, for cross-repository mounts. */
  readonly repos = new Map<string, Set<string>>();
  chunk = 64 * 1024;
  /** Fetches streaming right now, and the most seen at once. */
  active = 0;
  maxActive = 0;
  /**
   * When set, a fetch waits (up to 500 ms) until this many fetches are active
   * before it streams, so a test of a concurrency limit sees the limit reached
   * whatever the machine's load (downloads that finish early never overlap).
   */
  meetAt: number | undefined;
  #meeting: (() => void)[] = [];

  add(data: Buffer, mediaType: string): Descriptor {
    const digest = sha256(data);
    this.blobs.set(digest, data);
    return { mediaType, digest, size: data.length };
  }

  addJson(doc: unknown, mediaType: string): Descriptor {
    return this.add(Buffer.from(JSON.stringify(doc)), mediaType);
  }

  tag(ref: string, desc: Descriptor): void {
    this.tags.set(ref, desc);
  }

  fetchCount(digest: string): number {
    return this.fetched.filter((f) => f.digest === digest).length;
  }

  resolver(): Resolver {
    return {
      resolve: async (ref: string): Promise<Resolved> => {
        const at = ref.indexOf('@');
        if (at >= 0) {
          const digest = ref.slice(at + 1);
          const data = this.blobs.get(digest);
          if (!data) throw notFound(`memory registry: ${ref}: not found`);
          const tagged = [...this.tags.values()].find((d) => d.digest === digest);
          return {
            name: ref,
            desc: tagged ?? {
              mediaType: 'application/vnd.oci.image.index.v1+json',
              digest,
              size: data.length,
            },
          };
        }
        const desc = this.tags.get(ref);
        if (!desc) throw notFound(`memory registry: ${ref}: not found`);
        return { name: ref, desc };
      },
      fetcher: async (): Promise<Fetcher> => ({ fetch: (d, o) => this.#fetch(d, o) }),
      pusher: async (ref: string): Promise<Pusher> => ({
        push: (desc, data, opts) => this.#push(ref, desc, data, opts),
      }),
    };
  }

  async *#fetch(desc: Descriptor, opts: FetchOptions = {}): AsyncGenerator<Buffer> {
    const offset = opts.offset ?? 0;
    this.fetched.push({ digest: desc.digest, offset });
    this.active++;
    this.maxActive = Math.max(this.maxActive, this.active);
    try {
      await this.#meet();
      yield* this.#stream(desc, offset, opts);
    } finally {
      this.active--;
    }
  }

  async #meet(): Promise<void> {
    if (this.meetAt === undefined) return;
    if (this.active >= this.meetAt) {
      for (const wake of this.#meeting.splice(0)) wake();
      return;
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 500);
      this.#meeting.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  async *#stream(desc: Descriptor, offset: number, opts: FetchOptions): AsyncGenerator<Buffer> {
    const stored = this.blobs.get(desc.digest);
    if (!stored) throw notFound(`memory registry: blob ${desc.digest}: not found`);
    let data = stored;
    if (this.corrupt.has(desc.digest)) {
      data = Buffer.from(stored);
      data[data.length - 1] = (data[data.length - 1] ?? 0) ^ 0xff;
    }
    const cut = this.cutAfter.get(desc.digest);
    this.cutAfter.delete(desc.digest);
    const hash = createHash('sha256');
    let sent = 0;
    for (let at = offset; at < data.length; at += this.chunk) {
      opts.signal?.throwIfAborted();
      let piece = data.subarray(at, Math.min(at + this.chunk, data.length));
      if (cut !== undefined && sent + piece.length > cut) {
        piece = piece.subarray(0, cut - sent);
        if (piece.length > 0) yield piece;
        throw unavailable(`memory registry: blob ${desc.digest}: connection reset`);
      }
      hash.update(piece);
      sent += piece.length;
      yield piece;
      await new Promise((r) => setImmediate(r));
    }
    if (offset + sent !== desc.size) {
      throw failedPrecondition(
        `memory registry: blob ${desc.digest}: size ${offset + sent}, want ${desc.size}`,
      );
    }
    if (offset === 0 && `sha256:${hash.digest('hex')}` !== desc.digest) {
      throw failedPrecondition(`memory registry: blob ${desc.digest}: digest mismatch`);
    }
  }

  async #push(
    ref: string,
    desc: Descriptor,
    data: () => AsyncIterable<Buffer>,
    opts: PushOptions = {},
  ): Promise<boolean> {
    const repo = repoOf(ref);
    const mountFrom = opts.mountFrom ?? [];
    const holders = this.repos.get(desc.digest) ?? new Set<string>();
    this.repos.set(desc.digest, holders);
    if (holders.has(repo)) {
      this.pushes.push({ ref, desc, mountFrom, mounted: false });
      return false;
    }
    const host = repo.split('/')[0];
    const from = mountFrom.find((r) => holders.has(`${host}/${r}`));
    if (from !== undefined && this.blobs.has(desc.digest)) {
      holders.add(repo);
      this.pushes.push({ ref, desc, mountFrom, mounted: true });
      return true;
    }
    const bytes = await collect(data());
    if (sha256(bytes) !== desc.digest || bytes.length !== desc.size) {
      throw failedPrecondition(`memory registry: pushed ${desc.digest} does not match its bytes`);
    }
    this.blobs.set(desc.digest, bytes);
    holders.add(repo);
    this.pushes.push({ ref, desc, mountFrom, mounted: false });
    return true;
  }
}

export interface TestLayer {
  desc: Descriptor;
  diffId: string;
}

export interface TestImage {
  manifest: Descriptor;
  config: Descriptor;
  layers: TestLayer[];
  diffIds: string[];
  platform: { os: string; architecture: string; variant?: string };
}

const T = { sec: 1_704_067_200, nsec: 0 };

/** A file entry of a test layer. */
export function fileEntry(name: string, body: string | Buffer, mode = 0o644): TarWriteEntry {
  const data = typeof body === 'string' ? Buffer.from(body) : body;
  return { header: { name, type: 'file', mode, size: data.length, mtime: T }, body: data };
}

export function dirEntry(name: string, mode = 0o755): TarWriteEntry {
  return { header: { name, type: 'dir', mode, mtime: T } };
}

/** One gzip layer of `entries` in `reg`. */
export async function addLayer(reg: MemoryRegistry, entries: TarWriteEntry[]): Promise<TestLayer> {
  const tar = await collect(writeTar(entries));
  const gz = await collect(
    compress(
      'gzip',
      (async function* () {
        yield tar;
      })(),
    ),
  );
  return {
    desc: reg.add(gz, 'application/vnd.oci.image.layer.v1.tar+gzip'),
    diffId: sha256(tar),
  };
}

/**
 * An OCI image (config + manifest) in `reg` made of `layers` (each a list of
 * entries), for `platform` (`os/arch[/variant]`, default linux/amd64).
 * `diffIds` overrides the config's diff_ids (to make them lie).
 */
export async function addImage(
  reg: MemoryRegistry,
  layers: TarWriteEntry[][],
  opts: { platform?: string; diffIds?: string[]; label?: string } = {},
): Promise<TestImage> {
  const [os = 'linux', architecture = 'amd64', variant] = (opts.platform ?? 'linux/amd64').split(
    '/',
  );
  const built: TestLayer[] = [];
  for (const entries of layers) built.push(await addLayer(reg, entries));
  const diffIds = opts.diffIds ?? built.map((l) => l.diffId);
  const config = reg.addJson(
    {
      architecture,
      os,
      ...(variant && { variant }),
      config: { Env: ['PATH=/bin'], Cmd: ['sh'], ...(opts.label && { Labels: { l: opts.label } }) },
      rootfs: { type: 'layers', diff_ids: diffIds },
      history: [],
    },
    'application/vnd.oci.image.config.v1+json',
  );
  const manifest = reg.addJson(
    {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config,
      layers: built.map((l) => l.desc),
    },
    'application/vnd.oci.image.manifest.v1+json',
  );
  const platform = { os, architecture, ...(variant && { variant }) };
  return { manifest, config, layers: built, diffIds, platform };
}

/** An OCI index over `images` with their platforms. */
export function addIndex(reg: MemoryRegistry, images: TestImage[]): Descriptor {
  return reg.addJson(
    {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: images.map((i) => ({ ...i.manifest, platform: i.platform })),
    },
    'application/vnd.oci.image.index.v1+json',
  );
}
