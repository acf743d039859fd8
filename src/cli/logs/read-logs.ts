import { stat } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeEntry, formatRFC3339NanoFixed, type LogEntry, type LogStream } from './jsonlog.js';
import type { LogConfig } from './log-config.js';
import {
  logFilePaths,
  type OpenLogFile,
  openLogFile,
  openLogFiles,
  readLines,
  tailStart,
} from './log-files.js';

export interface ReadLogsOptions {
  /** Keep reading as the log grows and rotates, until `signal` aborts. */
  follow?: boolean;
  /** The last N entries only; default 'all'. */
  tail?: number | 'all';
  /** Entries at or after this time only. */
  since?: Date;
  /** Entries at or before this time only. */
  until?: Date;
  /** Each line prefixed with its time (RFC3339Nano, nine digits) and a space, as `docker logs -t`. */
  timestamps?: boolean;
  /** Ends a follow (the caller aborts when the task exits); what is on disk by then is still shown. */
  signal?: AbortSignal;
  /** How often a follow looks for growth and rotation; default 200 ms. */
  pollMs?: number;
}

export interface LogOutputs {
  stdout: Writable;
  stderr: Writable;
}

/**
 * `berth logs`: a container's json log across its rotated files, oldest
 * first, to `out.stdout` and `out.stderr` by stream. A follow keeps the
 * current file open: when it is rotated away it reads that file to its end
 * before it moves on to the next, so no entry is lost or shown twice.
 */
export async function readLogs(
  config: LogConfig,
  opts: ReadLogsOptions,
  out: LogOutputs,
): Promise<void> {
  const sinceNs = opts.since ? BigInt(opts.since.getTime()) * 1_000_000n : undefined;
  const untilNs = opts.until ? BigInt(opts.until.getTime()) * 1_000_000n : undefined;
  const atLineStart: Record<LogStream, boolean> = { stdout: true, stderr: true };

  const emit = async (line: Buffer): Promise<void> => {
    const e: LogEntry | undefined = decodeEntry(line);
    if (!e) return;
    if (sinceNs !== undefined && e.timeNs < sinceNs) return;
    if (untilNs !== undefined && e.timeNs > untilNs) return;
    let text = e.log;
    if (opts.timestamps && atLineStart[e.stream])
      text = `${formatRFC3339NanoFixed(e.timeNs)} ${text}`;
    atLineStart[e.stream] = text.endsWith('\n');
    const w = out[e.stream];
    if (!w.write(text)) await drained(w, opts.signal);
  };

  const files = await openLogFiles(config.path);
  let current: OpenLogFile | undefined;
  let offset = 0;
  try {
    const tail = opts.tail ?? 'all';
    const start =
      tail === 'all' ? { index: 0, offset: 0 } : await tailStart(files, Math.max(0, tail));
    for (let i = start.index; i < files.length; i++) {
      const f = files[i] as OpenLogFile;
      const end = await readLines(f, i === start.index ? start.offset : 0, emit, opts.signal);
      if (i === files.length - 1) {
        current = f;
        offset = end;
      }
    }
    for (const f of files) if (f !== current) await f.fh.close();
    files.length = 0;
    if (!opts.follow) return;

    const pollMs = opts.pollMs ?? 200;
    for (;;) {
      const last =
        opts.signal?.aborted === true ||
        (untilNs !== undefined && Date.now() * 1e6 > Number(untilNs));
      if (current) offset = await readLines(current, offset, emit);
      // Rotated or truncated since?
      const st = await stat(config.path).catch(() => undefined);
      if (current && st && st.ino === current.ino && st.size < offset) offset = 0; // emptied (max-file 1)
      if (!current || !st || st.ino !== current.ino) {
        const next = await nextFile(config.path, current);
        if (next) {
          // Rotated away: the writer finished this file before renaming it; read its last entries.
          if (current) offset = await readLines(current, offset, emit);
          await current?.fh.close();
          current = next;
          offset = 0;
          continue; // read it now
        }
      }
      if (last) return;
      await sleep(pollMs, undefined, { signal: opts.signal }).catch(() => {});
    }
  } finally {
    // On a failure, the files not read yet are still open too.
    for (const f of new Set([...files, ...(current ? [current] : [])])) {
      await f.fh.close().catch(() => {});
    }
  }
}

/**
 * The file that follows `current` in the rotation: the one just newer than it
 * (found by inode), or the oldest one left when it is gone (removed files are
 * always the oldest). Undefined when there is none yet, or when a rotation
 * is under way and the names do not add up: the next look tries again.
 */
async function nextFile(
  path: string,
  current: OpenLogFile | undefined,
): Promise<OpenLogFile | undefined> {
  const paths = await logFilePaths(path);
  const inos = await Promise.all(
    paths.map((p) =>
      stat(p).then(
        (s) => s.ino,
        () => -1,
      ),
    ),
  );
  const at = current ? inos.indexOf(current.ino) : -1;
  if (current && at === -1 && (await current.fh.stat()).nlink > 0) return undefined; // being renamed
  const want = paths[at + 1];
  if (want === undefined) return undefined;
  const f = await openLogFile(want);
  if (f && f.ino !== inos[at + 1]) {
    await f.fh.close(); // renamed meanwhile
    return undefined;
  }
  return f;
}

function drained(w: Writable, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      w.off('drain', done);
      w.off('close', done);
      w.off('error', done);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    w.on('drain', done);
    w.on('close', done);
    w.on('error', done);
    signal?.addEventListener('abort', done);
  });
}
