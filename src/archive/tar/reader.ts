/**
 * @module
 * A streaming tar reader for image layers.
 *
 * Formats: ustar, PAX (local `x` and global `g` extended headers), GNU (`L`
 * long names, `K` long links, base-256 numbers) and old V7 headers. Sparse
 * files (GNU `S`, `GNU.sparse.*` records) and any type other than file, dir,
 * symlink, hardlink, char, block and fifo are refused, as are bad checksums,
 * malformed fields and truncation. Every refusal is `invalid_argument`
 * naming the byte offset.
 *
 * Decisions, compared with Go's archive/tar (what containerd uses) and GNU tar:
 * - The end: two zero blocks, as the format says; but, as both of them, a
 *   clean end of input on a block boundary between entries (after zero or one
 *   zero block) also ends the archive. A layer's diffID covers the whole stream,
 *   so this lenience cannot hide a cut; truncation inside a header, extended
 *   header, body or its padding is an error. A zero block followed by a header
 *   is an error (as Go). After the end marker the source is read to its end and
 *   the bytes discarded, so a digest computed around the source completes.
 * - Memory is bounded by the source's chunk size plus, per entry, the extended
 *   headers, each at most `maxMetaSize` (1 MiB by default, Go's limit). A larger
 *   one is refused from its header, before anything is allocated; so is a
 *   global PAX set growing past the same limit.
 * - PAX records override ustar fields (`path`, `linkpath`, `size`, `uid`,
 *   `gid`, `uname`, `gname`, `mtime`, `atime`, `ctime`); an empty value falls
 *   back to the ustar field. Global records apply to every later entry, as
 *   POSIX and GNU tar say, except `path`, `linkpath` and `size`, which only
 *   make sense per entry (Go ignores global records altogether).
 * - Ambiguity is refused rather than resolved, since readers resolve it
 *   differently: a PAX path together with a GNU long name (or linkpath with a
 *   long link), two extended headers of one kind before an entry, a PAX key
 *   given twice in one header.
 * - Types without data (everything but `file`) have no body whatever their size
 *   field says, as Go reads them; their `size` is reported as 0. A V7 regular
 *   file (`\0` typeflag) whose name ends in `/` is a directory, as in Go.
 */
import { failedPrecondition, invalidArgument } from '../../core/errdefs/index.js';
import { ChunkReader } from './chunk-reader.js';
import {
  BLOCK,
  checksums,
  F,
  fieldBytes,
  META,
  MODE_MASK,
  type TarEntryType,
  type TarHeader,
  type TarTime,
  XATTR_PREFIX,
} from './header.js';
import { parseNumeric } from './numeric.js';
import { parsePaxDecimal, parsePaxRecords, parsePaxTime } from './pax.js';

export interface ReadTarOptions {
  /**
   * The largest PAX extended header, GNU long name or long link, and the
   * largest total of global PAX records, in bytes. Default 1 MiB.
   */
  readonly maxMetaSize?: number;
}

/** One archive entry. */
export interface TarEntry {
  readonly header: TarHeader;
  /**
   * The entry's data (`header.size` bytes; empty for all but files), readable
   * once. Chunks share memory with the source's chunks and may be kept. The
   * consumer may read all of it, part of it or none: asking the archive for
   * the next entry skips the rest, after which the body can no longer be read.
   */
  readonly body: AsyncIterable<Buffer>;
}

export const DEFAULT_MAX_META_SIZE = 1 << 20;

/** PAX keys that describe one file only: ignored in global headers. */
const PER_ENTRY_KEYS = new Set(['path', 'linkpath', 'size']);

const MAX_ID = 0xffff_ffff;

/**
 * Reads the archive in `source` entry by entry. Entries must be consumed in
 * order: each body before the next entry (or not at all). Ending the loop
 * early returns (closes) the source.
 */
export async function* readTar(
  source: AsyncIterable<Uint8Array>,
  opts: ReadTarOptions = {},
): AsyncGenerator<TarEntry, void, undefined> {
  const state: ReaderState = {
    input: new ChunkReader(source),
    maxMeta: opts.maxMetaSize ?? DEFAULT_MAX_META_SIZE,
    globals: new Map(),
  };
  let body: EntryBody | undefined;
  try {
    for (;;) {
      if (body) {
        await body.finish();
        body = undefined;
      }
      const header = await readHeader(state);
      if (!header) break;
      body = new EntryBody(state.input, header);
      yield { header, body };
    }
    await state.input.drain();
  } finally {
    body?.abandon();
    await state.input.close();
  }
}

interface ReaderState {
  readonly input: ChunkReader;
  readonly maxMeta: number;
  readonly globals: Map<string, Buffer>;
}

/** Extended headers read so far for the next entry. */
interface Pending {
  local?: Map<string, Buffer>;
  longName?: Buffer;
  longLink?: Buffer;
}

async function readHeader(state: ReaderState): Promise<TarHeader | undefined> {
  const { input } = state;
  const start = input.offset;
  const pending: Pending = {};
  for (;;) {
    const at = input.offset;
    const block = await input.read(BLOCK);
    if (block.length === 0 || (block.length === BLOCK && isZero(block))) {
      if (block.length > 0) await readSecondZeroBlock(input);
      if (pending.local || pending.longName || pending.longLink) {
        throw corrupt(at, 'the archive ends after an extended header');
      }
      return undefined;
    }
    if (block.length < BLOCK) throw corrupt(at, 'archive truncated inside a header');
    verifyChecksum(block, at);
    const flag = block[F.typeflag[0]]!;
    switch (flag) {
      case META.paxLocal: {
        if (pending.local) throw corrupt(at, 'two PAX extended headers for one entry');
        pending.local = parseRecords(await readMeta(state, block, at, 'PAX extended header'), at);
        break;
      }
      case META.paxGlobal: {
        const records = parseRecords(await readMeta(state, block, at, 'PAX global header'), at);
        mergeGlobals(state, records, at);
        break;
      }
      case META.gnuLongName: {
        if (pending.longName) throw corrupt(at, 'two GNU long names for one entry');
        pending.longName = untilNul(await readMeta(state, block, at, 'GNU long name'));
        break;
      }
      case META.gnuLongLink: {
        if (pending.longLink) throw corrupt(at, 'two GNU long link names for one entry');
        pending.longLink = untilNul(await readMeta(state, block, at, 'GNU long link name'));
        break;
      }
      case META.gnuSparse:
        throw corrupt(at, 'sparse files are not supported');
      default:
        return buildHeader(state, block, at, start, pending);
    }
  }
}

async function readSecondZeroBlock(input: ChunkReader): Promise<void> {
  const at = input.offset;
  const second = await input.read(BLOCK);
  if (second.length === 0 || (second.length === BLOCK && isZero(second))) return;
  if (second.length < BLOCK) throw corrupt(at, 'archive truncated inside the end marker');
  throw corrupt(at, 'a header follows a single zero block');
}

function verifyChecksum(block: Buffer, at: number): void {
  const stored = parseNumeric(block, ...F.checksum);
  if (stored === undefined) throw corrupt(at, 'invalid checksum field (not a tar header)');
  const { unsigned, signed } = checksums(block);
  if (stored !== unsigned && stored !== signed) {
    throw corrupt(at, `checksum mismatch: header says ${stored}, block sums to ${unsigned}`);
  }
}

/** Reads an extended header's data (and its padding), refusing it before allocating if too big. */
async function readMeta(state: ReaderState, block: Buffer, at: number, what: string) {
  const size = parseNumeric(block, ...F.size);
  if (size === undefined || size < 0) throw corrupt(at, `invalid size field in ${what}`);
  if (size > state.maxMeta) {
    throw corrupt(at, `${what} of ${size} bytes exceeds the limit of ${state.maxMeta} bytes`);
  }
  const data = await state.input.read(size);
  const pad = padding(size);
  if (data.length < size || (await state.input.skip(pad)) < pad) {
    throw corrupt(at, `archive truncated inside a ${what}`);
  }
  return data;
}

function parseRecords(data: Buffer, at: number): Map<string, Buffer> {
  let records: Map<string, Buffer>;
  try {
    records = parsePaxRecords(data);
  } catch (err) {
    throw corrupt(at, (err as Error).message);
  }
  for (const key of records.keys()) {
    if (key.startsWith('GNU.sparse.')) throw corrupt(at, 'sparse files are not supported');
  }
  return records;
}

function mergeGlobals(state: ReaderState, records: Map<string, Buffer>, at: number): void {
  for (const [key, value] of records) {
    if (value.length === 0) state.globals.delete(key);
    else state.globals.set(key, value);
  }
  let total = 0;
  for (const [key, value] of state.globals) total += key.length + value.length;
  if (total > state.maxMeta) {
    throw corrupt(
      at,
      `global PAX records total ${total} bytes, over the limit of ${state.maxMeta}`,
    );
  }
}

function buildHeader(
  state: ReaderState,
  block: Buffer,
  at: number,
  start: number,
  pending: Pending,
): TarHeader {
  const magic = block.toString('latin1', F.magic[0], F.magic[0] + 8);
  const ustar = magic === 'ustar\x0000';
  const gnu = magic === 'ustar  \x00';

  const pax = new Map<string, Buffer>();
  for (const [key, value] of state.globals) if (!PER_ENTRY_KEYS.has(key)) pax.set(key, value);
  for (const [key, value] of pending.local ?? []) {
    if (value.length === 0) pax.delete(key);
    else pax.set(key, value);
  }

  const paxPath = pax.get('path');
  if (paxPath && pending.longName) throw corrupt(at, 'both a PAX path and a GNU long name');
  const paxLink = pax.get('linkpath');
  if (paxLink && pending.longLink) throw corrupt(at, 'both a PAX linkpath and a GNU long link');

  let nameBytes = paxPath ?? pending.longName;
  if (!nameBytes) {
    const name = fieldBytes(block, F.name);
    const prefix = ustar ? fieldBytes(block, F.prefix) : undefined;
    nameBytes = prefix?.length
      ? Buffer.concat([prefix, Buffer.from('/'), name])
      : Buffer.from(name); // a copy: the block shares memory with a source chunk
  }
  const name = nameBytes.toString('utf8');
  const where = () => `entry "${name}"`;

  const flag = block[F.typeflag[0]]!;
  const type = entryType(flag, name);
  if (!type) throw corrupt(at, `${where()}: unsupported entry type ${describeFlag(flag)}`);

  let linknameBytes: Buffer = Buffer.alloc(0);
  if (type === 'symlink' || type === 'hardlink') {
    linknameBytes = paxLink ?? pending.longLink ?? Buffer.from(fieldBytes(block, F.linkname));
  }

  const field = (f: readonly [number, number], what: string, min = 0, max = Infinity) => {
    const v = parseNumeric(block, f[0], f[1]);
    if (v === undefined || v < min || v > max)
      throw corrupt(at, `${where()}: invalid ${what} field`);
    return v;
  };
  const decimal = (key: string, fallback: () => number, max: number) => {
    const raw = pax.get(key);
    if (!raw) return fallback();
    const v = parsePaxDecimal(raw);
    if (v === undefined || v > max) throw corrupt(at, `${where()}: invalid PAX ${key} record`);
    return v;
  };
  const time = (key: string): TarTime | undefined => {
    const raw = pax.get(key);
    if (!raw) return undefined;
    const t = parsePaxTime(raw);
    if (!t) throw corrupt(at, `${where()}: invalid PAX ${key} record`);
    return t;
  };
  const text = (key: string, f: readonly [number, number]) =>
    (pax.get(key) ?? (ustar || gnu ? fieldBytes(block, f) : Buffer.alloc(0))).toString('utf8');

  const mode = field(F.mode, 'mode', 0) & MODE_MASK;
  const uid = decimal('uid', () => field(F.uid, 'uid', 0, MAX_ID), MAX_ID);
  const gid = decimal('gid', () => field(F.gid, 'gid', 0, MAX_ID), MAX_ID);
  const size = decimal('size', () => field(F.size, 'size', 0), Number.MAX_SAFE_INTEGER);
  const mtime = time('mtime') ?? { sec: field(F.mtime, 'mtime', -Infinity), nsec: 0 };
  let devmajor = 0;
  let devminor = 0;
  if (ustar || gnu) {
    devmajor = field(F.devmajor, 'devmajor', 0);
    devminor = field(F.devminor, 'devminor', 0);
  }
  const device = type === 'char' || type === 'block';

  const xattrs = new Map<string, Buffer>();
  for (const [key, value] of pax) {
    if (!key.startsWith(XATTR_PREFIX)) continue;
    const xname = key.slice(XATTR_PREFIX.length);
    if (xname === '') throw corrupt(at, `${where()}: empty xattr name`);
    xattrs.set(xname, value);
  }

  const header: TarHeader = {
    name,
    nameBytes,
    linkname: linknameBytes.toString('utf8'),
    linknameBytes,
    type,
    mode,
    uid,
    gid,
    uname: text('uname', F.uname),
    gname: text('gname', F.gname),
    size: type === 'file' ? size : 0,
    mtime,
    devmajor: device ? devmajor : 0,
    devminor: device ? devminor : 0,
    xattrs,
    pax,
    offset: start,
  };
  const atime = time('atime');
  const ctime = time('ctime');
  return { ...header, ...(atime ? { atime } : {}), ...(ctime ? { ctime } : {}) };
}

function entryType(flag: number, name: string): TarEntryType | undefined {
  switch (flag) {
    case 0x00: // V7 regular file; a trailing slash meant a directory
      return name.endsWith('/') ? 'dir' : 'file';
    case 0x30: // '0'
    case 0x37: // '7' contiguous file: a regular file everywhere that matters
      return 'file';
    case 0x31:
      return 'hardlink';
    case 0x32:
      return 'symlink';
    case 0x33:
      return 'char';
    case 0x34:
      return 'block';
    case 0x35:
      return 'dir';
    case 0x36:
      return 'fifo';
    default:
      return undefined;
  }
}

/**
 * An entry's body: a one-shot iterator over the ChunkReader, bounded by the
 * entry's size. `finish` (the reader moving on) skips what is left.
 */
class EntryBody implements AsyncIterable<Buffer> {
  readonly #input: ChunkReader;
  readonly #header: TarHeader;
  #remaining: number;
  #state: 'unread' | 'reading' | 'closed' = 'unread';

  constructor(input: ChunkReader, header: TarHeader) {
    this.#input = input;
    this.#header = header;
    this.#remaining = header.size;
  }

  [Symbol.asyncIterator](): AsyncIterator<Buffer> {
    if (this.#state !== 'unread') throw this.#unreadable();
    this.#state = 'reading';
    return {
      next: async (): Promise<IteratorResult<Buffer>> => {
        if (this.#state === 'closed') throw this.#unreadable();
        if (this.#remaining === 0) return { done: true, value: undefined };
        const chunk = await this.#input.next(this.#remaining);
        if (chunk.length === 0) throw this.#truncated(this.#remaining);
        this.#remaining -= chunk.length;
        return { done: false, value: chunk };
      },
      return: async (): Promise<IteratorResult<Buffer>> => ({ done: true, value: undefined }),
    };
  }

  /** Skips the unread rest of the body and its padding; the body is unreadable after. */
  async finish(): Promise<void> {
    this.#state = 'closed';
    const rest = this.#remaining;
    const pad = padding(this.#header.size);
    this.#remaining = 0;
    const skipped = await this.#input.skip(rest + pad);
    if (skipped < rest) throw this.#truncated(rest - skipped);
    if (skipped < rest + pad) {
      throw corrupt(
        this.#header.offset,
        `entry "${this.#header.name}": archive truncated in padding`,
      );
    }
  }

  /** The reader stopped (error or early end): later reads fail. */
  abandon(): void {
    this.#state = 'closed';
  }

  #unreadable() {
    const why =
      this.#state === 'closed' ? 'the reader moved past the entry' : 'it was already read';
    return failedPrecondition(`tar entry "${this.#header.name}": body not readable: ${why}`);
  }

  #truncated(missing: number) {
    return corrupt(
      this.#header.offset,
      `entry "${this.#header.name}": archive truncated, ${missing} of ${this.#header.size} body bytes missing`,
    );
  }
}

function corrupt(at: number, reason: string) {
  return invalidArgument(`tar header at byte ${at}: ${reason}`);
}

function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

const ZERO_BLOCK = Buffer.alloc(BLOCK);

function isZero(block: Buffer): boolean {
  return ZERO_BLOCK.equals(block);
}

function untilNul(data: Buffer): Buffer {
  const nul = data.indexOf(0);
  return Buffer.from(nul < 0 ? data : data.subarray(0, nul));
}

function describeFlag(flag: number): string {
  return flag >= 0x21 && flag <= 0x7e ? `'${String.fromCharCode(flag)}'` : `0x${flag.toString(16)}`;
}
