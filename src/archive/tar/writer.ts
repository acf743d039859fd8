/**
 * @module
 * A streaming tar writer producing POSIX PAX archives, as Go's archive/tar
 * writes them: a ustar header per entry, preceded by a PAX extended header
 * (named `<dir>/PaxHeaders.0/<base>`) when a value does not fit ustar.
 *
 * PAX records are written for: names and link targets over 100 bytes or with
 * bytes outside printable ASCII (`path`, `linkpath`; plus `hdrcharset=BINARY`
 * when they are not valid UTF-8), user and group names over 32 bytes or not
 * ASCII, uid/gid over 2097151, sizes of 8 GiB and more, mtimes with
 * nanoseconds or outside 0…8^11-1 (`mtime`), `atime`/`ctime` when given, and
 * every xattr (`SCHILY.xattr.<name>`, the value's bytes as they are). Numbers
 * too big for octal also go into their ustar field in base-256, for readers
 * that ignore PAX.
 *
 * Output is deterministic: it depends only on the headers and bodies given
 * (records sorted by key, the extended header's own fields zero). The
 * archive ends with two zero blocks and no record padding, as Go's writer.
 */
import { isUtf8 } from 'node:buffer';
import { asBuffer } from '../../core/any/index.js';
import { failedPrecondition, invalidArgument } from '../../core/errdefs/index.js';
import {
  BLOCK,
  checksums,
  F,
  type TarEntryType,
  type TarTime,
  TYPEFLAG,
  XATTR_PREFIX,
} from './header.js';
import { formatNumeric, maxOctal } from './numeric.js';
import { formatPaxRecords, formatPaxTime } from './pax.js';

/**
 * What the writer needs of a header; a reader's `TarHeader` is one.
 * `nameBytes`/`linknameBytes`, when given, are written instead of
 * `name`/`linkname` (so names that are not UTF-8 survive a round trip).
 */
export interface TarWriteHeader {
  readonly name: string;
  readonly nameBytes?: Buffer;
  readonly type: TarEntryType;
  /** Target of a symlink or hardlink (required for those, ignored otherwise). */
  readonly linkname?: string;
  readonly linknameBytes?: Buffer;
  /** Permission bits with setuid, setgid and sticky: 0…0o7777. */
  readonly mode: number;
  readonly uid?: number;
  readonly gid?: number;
  readonly uname?: string;
  readonly gname?: string;
  /** Body bytes; files only (default 0). */
  readonly size?: number;
  readonly mtime?: TarTime;
  readonly atime?: TarTime;
  readonly ctime?: TarTime;
  /** char and block devices only. */
  readonly devmajor?: number;
  readonly devminor?: number;
  readonly xattrs?: ReadonlyMap<string, Buffer>;
}

/** A body: one buffer, or chunks. Its length must equal the header's size. */
export type TarBody = Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>;

export interface TarWriteEntry {
  readonly header: TarWriteHeader;
  readonly body?: TarBody;
}

const MAX_ID = 0xffff_ffff;
const EMPTY = Buffer.alloc(0);
const END = Buffer.alloc(2 * BLOCK);

/**
 * Writes entries one after the other. Each `entry()` generator must be read
 * to its end before the next entry starts; a body whose length differs from
 * the header's size fails the entry and the writer (the archive would be
 * corrupt), as does abandoning an entry half-way.
 */
export class TarWriter {
  #state: 'ready' | 'entry' | 'failed' | 'ended' = 'ready';
  #bytes = 0;

  /** Bytes produced so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /** The bytes of one entry: its header blocks, its body, padding to a block. */
  async *entry(header: TarWriteHeader, body?: TarBody): AsyncGenerator<Buffer, void, undefined> {
    if (this.#state !== 'ready') {
      throw failedPrecondition(`tar writer: cannot add "${header.name}": writer is ${this.#state}`);
    }
    this.#state = 'entry';
    let ok = false;
    try {
      const blocks = encodeHeader(header);
      this.#bytes += blocks.length;
      yield blocks;
      const size = header.type === 'file' ? (header.size ?? 0) : 0;
      let written = 0;
      for await (const chunk of chunks(body)) {
        if (chunk.length === 0) continue;
        written += chunk.length;
        if (written > size) break;
        this.#bytes += chunk.length;
        yield chunk;
      }
      if (written !== size) {
        throw invalidArgument(
          `tar entry "${header.name}": body is ${written > size ? 'more' : written} bytes, header says ${size}`,
        );
      }
      const pad = padding(size);
      if (pad > 0) {
        this.#bytes += pad;
        yield END.subarray(0, pad);
      }
      ok = true;
    } finally {
      this.#state = ok ? 'ready' : 'failed';
    }
  }

  /** The end-of-archive marker (two zero blocks). No entry may follow. */
  end(): Buffer {
    if (this.#state !== 'ready')
      throw failedPrecondition(`tar writer: cannot end: writer is ${this.#state}`);
    this.#state = 'ended';
    this.#bytes += END.length;
    return END;
  }
}

/** A whole archive from `entries`, streamed. */
export async function* writeTar(
  entries: Iterable<TarWriteEntry> | AsyncIterable<TarWriteEntry>,
): AsyncGenerator<Buffer, void, undefined> {
  const writer = new TarWriter();
  for await (const { header, body } of entries) yield* writer.entry(header, body);
  yield writer.end();
}

/**
 * The header blocks of one entry: a PAX extended header if needed, then the
 * ustar header. Throws `invalid_argument` for a header that cannot be written
 * (empty name, NUL in a name, a link without target, a size on a non-file,
 * out-of-range numbers, an xattr name with `=` or NUL).
 */
export function encodeHeader(h: TarWriteHeader): Buffer {
  validate(h);
  const records = new Map<string, Buffer>();
  const block = Buffer.alloc(BLOCK);
  const name = h.nameBytes ?? Buffer.from(h.name, 'utf8');
  const link = isLink(h.type) ? linkBytes(h) : EMPTY;

  putText(block, F.name, name, 'path', records);
  putText(block, F.linkname, link, 'linkpath', records);
  putText(block, F.uname, Buffer.from(h.uname ?? '', 'utf8'), 'uname', records);
  putText(block, F.gname, Buffer.from(h.gname ?? '', 'utf8'), 'gname', records);
  for (const key of ['path', 'linkpath', 'uname', 'gname']) {
    const v = records.get(key);
    if (v && !isUtf8(v)) records.set('hdrcharset', Buffer.from('BINARY'));
  }

  formatNumeric(block, ...F.mode, h.mode);
  putNumber(block, F.uid, h.uid ?? 0, 'uid', records);
  putNumber(block, F.gid, h.gid ?? 0, 'gid', records);
  putNumber(block, F.size, h.type === 'file' ? (h.size ?? 0) : 0, 'size', records);
  const mtime = h.mtime ?? { sec: 0, nsec: 0 };
  formatNumeric(block, ...F.mtime, mtime.sec);
  if (mtime.nsec !== 0 || mtime.sec < 0 || mtime.sec > maxOctal(F.mtime[1])) {
    records.set('mtime', Buffer.from(formatPaxTime(mtime)));
  }
  if (h.atime) records.set('atime', Buffer.from(formatPaxTime(h.atime)));
  if (h.ctime) records.set('ctime', Buffer.from(formatPaxTime(h.ctime)));
  formatNumeric(block, ...F.devmajor, h.devmajor ?? 0);
  formatNumeric(block, ...F.devminor, h.devminor ?? 0);
  for (const [xname, value] of h.xattrs ?? []) records.set(XATTR_PREFIX + xname, value);

  block[F.typeflag[0]] = TYPEFLAG[h.type];
  block.write('ustar\x0000', F.magic[0], 'latin1');
  seal(block);
  if (records.size === 0) return block;

  const sorted = [...records].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const data = formatPaxRecords(sorted);
  const pax = Buffer.alloc(BLOCK);
  pax.write(paxHeaderName(name), F.name[0], F.name[1], 'latin1');
  formatNumeric(pax, ...F.mode, 0);
  formatNumeric(pax, ...F.uid, 0);
  formatNumeric(pax, ...F.gid, 0);
  formatNumeric(pax, ...F.size, data.length);
  formatNumeric(pax, ...F.mtime, 0);
  formatNumeric(pax, ...F.devmajor, 0);
  formatNumeric(pax, ...F.devminor, 0);
  pax[F.typeflag[0]] = 0x78; // 'x'
  pax.write('ustar\x0000', F.magic[0], 'latin1');
  seal(pax);
  return Buffer.concat([pax, data, END.subarray(0, padding(data.length)), block]);
}

function validate(h: TarWriteHeader): void {
  const where = `tar entry "${h.name}"`;
  const fail = (reason: string) => invalidArgument(`${where}: ${reason}`);
  if (!Object.hasOwn(TYPEFLAG, h.type)) throw fail(`unknown type ${JSON.stringify(h.type)}`);
  const name = h.nameBytes ?? Buffer.from(h.name, 'utf8');
  if (name.length === 0) throw fail('empty name');
  if (name.includes(0)) throw fail('NUL in name');
  if (isLink(h.type)) {
    const link = linkBytes(h);
    if (link.length === 0) throw fail(`${h.type} without a target`);
    if (link.includes(0)) throw fail('NUL in link target');
  }
  for (const [what, v] of [
    ['uname', h.uname],
    ['gname', h.gname],
  ] as const) {
    if (v?.includes('\0')) throw fail(`NUL in ${what}`);
  }
  const int = (what: string, v: number | undefined, min: number, max: number) => {
    if (v !== undefined && (!Number.isSafeInteger(v) || v < min || v > max)) {
      throw fail(`${what} ${v} out of range`);
    }
  };
  int('mode', h.mode, 0, 0o7777);
  int('uid', h.uid, 0, MAX_ID);
  int('gid', h.gid, 0, MAX_ID);
  int('size', h.size, 0, h.type === 'file' ? Number.MAX_SAFE_INTEGER : 0);
  const device = h.type === 'char' || h.type === 'block';
  int('devmajor', h.devmajor, 0, device ? MAX_ID : 0);
  int('devminor', h.devminor, 0, device ? MAX_ID : 0);
  for (const [what, t] of [
    ['mtime', h.mtime],
    ['atime', h.atime],
    ['ctime', h.ctime],
  ] as const) {
    if (!t) continue;
    int(`${what} seconds`, t.sec, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
    int(`${what} nanoseconds`, t.nsec, 0, 999_999_999);
  }
  for (const xname of h.xattrs?.keys() ?? []) {
    if (xname === '' || xname.includes('=') || xname.includes('\0')) {
      throw fail(`invalid xattr name ${JSON.stringify(xname)}`);
    }
  }
}

function isLink(type: TarEntryType): boolean {
  return type === 'symlink' || type === 'hardlink';
}

function linkBytes(h: TarWriteHeader): Buffer {
  return h.linknameBytes ?? Buffer.from(h.linkname ?? '', 'utf8');
}

/** Writes `value` into the field if it fits as printable ASCII, else as a PAX record. */
function putText(
  block: Buffer,
  [start, len]: readonly [number, number],
  value: Buffer,
  key: string,
  records: Map<string, Buffer>,
): void {
  if (value.length <= len && isPortable(value)) {
    value.copy(block, start);
    return;
  }
  records.set(key, value);
  block.write(asciiOnly(value).slice(0, len), start, len, 'latin1'); // a hint for PAX-blind readers
}

function putNumber(
  block: Buffer,
  [start, len]: readonly [number, number],
  value: number,
  key: string,
  records: Map<string, Buffer>,
): void {
  if (value > maxOctal(len)) records.set(key, Buffer.from(String(value)));
  formatNumeric(block, start, len, value);
}

/** Fills in the checksum: six octal digits, NUL, space. */
function seal(block: Buffer): void {
  const [start] = F.checksum;
  block.fill(0x20, start, start + 8);
  const sum = checksums(block).unsigned;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, start, 8, 'latin1');
}

function paxHeaderName(name: Buffer): string {
  const s = asciiOnly(name).replace(/\/+$/, '');
  const slash = s.lastIndexOf('/');
  return `${s.slice(0, slash + 1)}PaxHeaders.0/${s.slice(slash + 1)}`.slice(0, F.name[1]);
}

function isPortable(value: Buffer): boolean {
  for (const b of value) if (b < 0x20 || b > 0x7e) return false;
  return true;
}

function asciiOnly(value: Buffer): string {
  let s = '';
  for (const b of value) if (b >= 0x20 && b <= 0x7e) s += String.fromCharCode(b);
  return s;
}

function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

async function* chunks(body: TarBody | undefined): AsyncGenerator<Buffer, void, undefined> {
  if (body === undefined) return;
  if (body instanceof Uint8Array) {
    yield asBuffer(body);
    return;
  }
  for await (const chunk of body) yield asBuffer(chunk);
}
