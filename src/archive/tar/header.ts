/**
 * @module
 * The tar header as berth sees it, shared by the reader and the writer, and
 * the layout of the 512-byte ustar block (POSIX.1-2001 `ustar`, with GNU's
 * variant where it differs).
 */

/** The kinds of entry berth reads and writes; any other kind is refused. */
export type TarEntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';

/** A time as tar keeps it: seconds since the epoch (may be negative) and 0 ≤ nsec < 1e9. */
export interface TarTime {
  readonly sec: number;
  readonly nsec: number;
}

/**
 * One entry's header, after PAX and GNU extended headers were applied.
 *
 * Names are what the archive says, unchecked: containment, `..`, absolute
 * paths and whiteouts are the caller's policy. `name` and `linkname` are the
 * UTF-8 decoding of `nameBytes` and `linknameBytes` (invalid sequences become
 * U+FFFD); callers that must refuse or preserve invalid UTF-8 use the bytes
 * (`isUtf8` from `node:buffer`).
 */
export interface TarHeader {
  readonly name: string;
  readonly nameBytes: Buffer;
  /** Target of a symlink or hardlink; empty for other types. */
  readonly linkname: string;
  readonly linknameBytes: Buffer;
  readonly type: TarEntryType;
  /** Permission bits with setuid (0o4000), setgid (0o2000) and sticky (0o1000); no file-type bits. */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly uname: string;
  readonly gname: string;
  /** Bytes of body: 0 for every type but `file`. */
  readonly size: number;
  readonly mtime: TarTime;
  /** Only from PAX records. */
  readonly atime?: TarTime;
  readonly ctime?: TarTime;
  /** Device numbers; 0 unless `char` or `block`. */
  readonly devmajor: number;
  readonly devminor: number;
  /** From `SCHILY.xattr.<name>` PAX records: raw bytes, never decoded. */
  readonly xattrs: ReadonlyMap<string, Buffer>;
  /** Every PAX record in effect for the entry (global, then local), values raw. */
  readonly pax: ReadonlyMap<string, Buffer>;
  /** Byte offset in the archive of the entry's first header block (extended headers included). */
  readonly offset: number;
}

export const BLOCK = 512;

/** Field offsets and lengths of the ustar header block. */
export const F = {
  name: [0, 100],
  mode: [100, 8],
  uid: [108, 8],
  gid: [116, 8],
  size: [124, 12],
  mtime: [136, 12],
  checksum: [148, 8],
  typeflag: [156, 1],
  linkname: [157, 100],
  magic: [257, 6],
  version: [263, 2],
  uname: [265, 32],
  gname: [297, 32],
  devmajor: [329, 8],
  devminor: [337, 8],
  /** ustar only; GNU keeps atime, ctime and sparse data here. */
  prefix: [345, 155],
} as const satisfies Record<string, readonly [number, number]>;

/** Typeflags of the entries a reader returns. */
export const TYPEFLAG: Readonly<Record<TarEntryType, number>> = {
  file: 0x30, // '0'
  hardlink: 0x31, // '1'
  symlink: 0x32, // '2'
  char: 0x33, // '3'
  block: 0x34, // '4'
  dir: 0x35, // '5'
  fifo: 0x36, // '6'
};

/** Typeflags of metadata headers that describe the next entry. */
export const META = {
  paxLocal: 0x78, // 'x'
  paxGlobal: 0x67, // 'g'
  gnuLongName: 0x4c, // 'L'
  gnuLongLink: 0x4b, // 'K'
  gnuSparse: 0x53, // 'S'
} as const;

/** Permission and special bits kept in `mode`. */
export const MODE_MASK = 0o7777;

/** The prefix of PAX records that carry extended attributes (star, GNU tar, Go). */
export const XATTR_PREFIX = 'SCHILY.xattr.';

/** Sums the block with the checksum field read as spaces: unsigned, and signed as old tars did. */
export function checksums(block: Buffer): { unsigned: number; signed: number } {
  const [start, len] = F.checksum;
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= start && i < start + len ? 0x20 : block[i]!;
    unsigned += b;
    signed += b > 0x7f ? b - 0x100 : b;
  }
  return { unsigned, signed };
}

/** The bytes of a NUL-terminated field: up to the first NUL, or the whole field. */
export function fieldBytes(block: Buffer, [start, len]: readonly [number, number]): Buffer {
  const end = block.indexOf(0, start);
  return block.subarray(start, end < 0 || end > start + len ? start + len : end);
}
