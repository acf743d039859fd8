/**
 * @module
 * What the cri/io tests (unit and root) share: a writable that keeps what it
 * is given, polling for a condition, and a CRI log's lines without their
 * timestamps.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';

/** A client's stream that takes every write at once; `text()` is all it got. */
export function sink(): Writable & { text(): string } {
  const chunks: Buffer[] = [];
  const w = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk);
      done();
    },
  });
  return Object.assign(w, { text: () => Buffer.concat(chunks).toString() });
}

/** Resolves once `cond()` holds (polled every `pollMs`); fails naming `what` after `ms`. */
export async function until(
  what: string,
  cond: () => boolean,
  ms = 5000,
  pollMs = 5,
): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(pollMs);
  }
}

/** The CRI log's lines (`<stream> <P|F> <text>`) without their timestamps; none while it is missing. */
export function logLines(path: string): string[] {
  return existsSync(path)
    ? readFileSync(path, 'utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => l.split(' ').slice(1).join(' '))
    : [];
}

/**
 * What this process has open below `dir` (FIFOs, logs), as sorted paths: a
 * test compares it before and after, which a count of all its fds cannot do
 * reliably (node's own fds come and go with its threads and sockets).
 */
export function openFilesUnder(dir: string): string[] {
  const open: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith(`${dir}/`)) open.push(target);
    } catch {
      // closed meanwhile (the readdir's own fd, among others)
    }
  }
  return open.sort();
}
