import { type FileHandle, open, readdir } from 'node:fs/promises';
import { basename, dirname } from 'node:path';

/** One file of a container's log, open for reading. */
export interface OpenLogFile {
  path: string;
  fh: FileHandle;
  ino: number;
  size: number;
}

/** The paths of a json log, oldest first: `<path>.N` … `<path>.1`, `<path>` (those that exist). */
export async function logFilePaths(path: string): Promise<string[]> {
  const prefix = `${basename(path)}.`;
  let names: string[];
  try {
    names = await readdir(dirname(path));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const rotated = names
    .filter((n) => n.startsWith(prefix) && /^\d+$/.test(n.slice(prefix.length)))
    .map((n) => Number(n.slice(prefix.length)))
    .sort((a, b) => b - a)
    .map((n) => `${path}.${n}`);
  return names.includes(basename(path)) ? [...rotated, path] : rotated;
}

/** Opens the json log's files, oldest first; files rotated away meanwhile are skipped. */
export async function openLogFiles(path: string): Promise<OpenLogFile[]> {
  const out: OpenLogFile[] = [];
  for (const p of await logFilePaths(path)) {
    const f = await openLogFile(p);
    if (!f) continue;
    // Renamed between the listing and the open (a rotation): seen once.
    if (out.some((o) => o.ino === f.ino)) await f.fh.close();
    else out.push(f);
  }
  return out;
}

export async function openLogFile(path: string): Promise<OpenLogFile | undefined> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const st = await fh.stat();
  return { path, fh, ino: st.ino, size: st.size };
}

const BLOCK = 64 * 1024;
const NL = 10;
const MAX_ENTRY = 1024 * 1024;

/**
 * Where reading starts to show the last `n` entries (lines) of `files`:
 * reads backwards in blocks from the end, never whole files. Bytes after the
 * last `\n` (an entry being written) are not an entry yet.
 */
export async function tailStart(
  files: readonly OpenLogFile[],
  n: number,
): Promise<{ index: number; offset: number }> {
  let need = n;
  const buf = Buffer.allocUnsafe(BLOCK);
  for (let i = files.length - 1; i >= 0; i--) {
    const f = files[i] as OpenLogFile;
    let newlines = 0;
    let pos = f.size;
    while (pos > 0) {
      const len = Math.min(BLOCK, pos);
      pos -= len;
      const { bytesRead } = await f.fh.read(buf, 0, len, pos);
      for (let j = bytesRead - 1; j >= 0; j--) {
        if (buf[j] !== NL) continue;
        newlines++;
        // The (need+1)-th newline from the end ends the entry before the ones wanted.
        if (newlines === need + 1) return { index: i, offset: pos + j + 1 };
      }
    }
    if (newlines >= need) return { index: i, offset: 0 };
    need -= newlines;
  }
  return { index: 0, offset: 0 };
}

/** Reads complete lines (without `\n`) from `offset`; returns the offset after the last one. */
export async function readLines(
  f: OpenLogFile,
  offset: number,
  onLine: (line: Buffer) => Promise<void> | void,
  signal?: AbortSignal,
): Promise<number> {
  const buf = Buffer.allocUnsafe(BLOCK);
  let carry: Buffer | undefined;
  let pos = offset;
  let done = offset;
  for (;;) {
    if (signal?.aborted) return done;
    const { bytesRead } = await f.fh.read(buf, 0, BLOCK, pos);
    if (bytesRead === 0) return done;
    pos += bytesRead;
    let data = buf.subarray(0, bytesRead);
    if (carry) data = Buffer.concat([carry, data]);
    const base = pos - data.length;
    let start = 0;
    for (let nl = data.indexOf(NL, start); nl !== -1; nl = data.indexOf(NL, start)) {
      await onLine(data.subarray(start, nl));
      start = nl + 1;
      done = base + start;
    }
    // What follows the last newline: kept (copied) for the next block.
    carry = start < data.length ? Buffer.from(data.subarray(start)) : undefined;
    // No entry is this long (16 KiB of text, escaped): not a json log; skip it.
    if (carry && carry.length > MAX_ENTRY) carry = undefined;
  }
}
