/**
 * @module
 * Test support for the differ (not used by berthd): layer tars built with
 * src/archive's writer, an in-memory content store, and a fingerprint of a
 * directory tree to prove that nothing outside a target changed.
 */
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { compress, type TarWriteEntry, writeTar } from '../archive/index.js';
import type {
  CommitOptions,
  ContentStore,
  Info,
  Status,
  Writer,
  WriterOptions,
} from '../core/content/index.js';
import { alreadyExists, failedPrecondition, notFound } from '../core/errdefs/index.js';
import type { OpContext } from '../core/namespaces/index.js';

export async function collect(source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of source) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

/** A tar of `entries` (header + optional string/Buffer body). */
export async function tarOf(entries: TarWriteEntry[]): Promise<Buffer> {
  return collect(writeTar(entries));
}

export async function gzipOf(data: Buffer): Promise<Buffer> {
  return collect(
    compress(
      'gzip',
      (async function* () {
        yield data;
      })(),
    ),
  );
}

/** A minimal in-memory ContentStore (labels included), enough for Apply and Compare. */
export class MemoryContent implements ContentStore {
  readonly blobs = new Map<string, { data: Buffer; labels: Record<string, string> }>();
  readonly ingests = new Map<string, Buffer[]>();

  add(data: Buffer, labels: Record<string, string> = {}): string {
    const digest = sha256(data);
    this.blobs.set(digest, { data, labels });
    return digest;
  }

  async info(_ctx: OpContext, digest: string): Promise<Info> {
    const b = this.blobs.get(digest);
    if (!b) throw notFound(`content digest ${digest}`);
    return { digest, size: b.data.length, createdAt: 0n, updatedAt: 0n, labels: { ...b.labels } };
  }

  async *read(_ctx: OpContext, digest: string): AsyncIterable<Buffer> {
    const b = this.blobs.get(digest);
    if (!b) throw notFound(`content digest ${digest}`);
    for (let i = 0; i < b.data.length; i += 64 * 1024) yield b.data.subarray(i, i + 64 * 1024);
  }

  async writer(_ctx: OpContext, opts: WriterOptions): Promise<Writer> {
    const parts = this.ingests.get(opts.ref) ?? [];
    this.ingests.set(opts.ref, parts);
    return {
      ref: opts.ref,
      status: async (): Promise<Status> => ({
        ref: opts.ref,
        offset: Buffer.concat(parts).length,
        total: 0,
        expected: '',
        startedAt: 0n,
        updatedAt: 0n,
      }),
      write: async (data) => {
        parts.push(Buffer.from(data));
      },
      truncate: async () => {
        parts.length = 0;
      },
      digest: () => sha256(Buffer.concat(parts)),
      close: async () => {},
      commit: async (size: number, expected?: string, o?: CommitOptions) => {
        const data = Buffer.concat(parts);
        this.ingests.delete(opts.ref);
        const digest = sha256(data);
        if (size > 0 && size !== data.length) throw failedPrecondition('size mismatch');
        if (expected && expected !== digest) throw failedPrecondition('digest mismatch');
        if (this.blobs.has(digest)) throw alreadyExists(`content ${digest}`);
        this.blobs.set(digest, { data, labels: { ...(o?.labels ?? {}) } });
        return digest;
      },
    };
  }

  async update(
    _ctx: OpContext,
    info: Pick<Info, 'digest' | 'labels'>,
    fieldpaths?: readonly string[],
  ) {
    const b = this.blobs.get(info.digest);
    if (!b) throw notFound(info.digest);
    if (!fieldpaths?.length) b.labels = { ...info.labels };
    for (const p of fieldpaths ?? []) {
      const key = p.slice('labels.'.length);
      const v = info.labels[key];
      if (v === undefined) delete b.labels[key];
      else b.labels[key] = v;
    }
    return this.info(_ctx, info.digest);
  }

  async list(): Promise<Info[]> {
    return [];
  }

  async delete(_ctx: OpContext, digest: string): Promise<void> {
    this.blobs.delete(digest);
  }

  async status(_ctx: OpContext, ref: string): Promise<Status> {
    throw notFound(ref);
  }

  async listStatuses(): Promise<Status[]> {
    return [];
  }

  async abort(_ctx: OpContext, ref: string): Promise<void> {
    if (!this.ingests.delete(ref)) throw notFound(ref);
  }
}

export function sha256(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/**
 * Every entry below `dir` (not followed) with its type, mode, owner, size,
 * mtime (ns), link target and content hash: equal fingerprints mean an
 * unchanged tree.
 */
export function fingerprint(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const p = join(dir, r);
      const st = lstatSync(p, { bigint: true });
      let extra = '';
      if (st.isSymbolicLink()) extra = readlinkSync(p);
      else if (st.isFile()) extra = createHash('sha256').update(readFileSync(p)).digest('hex');
      out.push(`${r} ${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.size} ${st.mtimeNs} ${extra}`);
      if (st.isDirectory()) walk(r);
    }
  };
  walk('');
  return out;
}
