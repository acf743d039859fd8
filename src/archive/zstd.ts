import { spawn } from 'node:child_process';
import { pipeline, Readable, type Transform } from 'node:stream';
import * as zlib from 'node:zlib';
import { failedPrecondition, internal, invalidArgument } from '../core/errdefs/index.js';
import { markErrors, through } from './transform.js';

/** The most of zstd's stderr kept for an error message. */
const MAX_STDERR = 16 * 1024;

type ZstdFactory = (opts: object) => Transform;

/** node:zlib's zstd decoder (Node ≥ 22.15 / 23.8), if this Node has it. */
const nativeZstd = (zlib as unknown as { createZstdDecompress?: ZstdFactory }).createZstdDecompress;

/**
 * Decompresses a zstd stream: in process with node:zlib when this Node has
 * zstd, otherwise through `zstd -dc` (Debian's zstd). Bad data is
 * `invalid_argument` naming zstd's own message.
 */
export function decompressZstd(
  source: AsyncIterable<Uint8Array>,
  codecOptions: object,
  signal?: AbortSignal,
  impl: 'auto' | 'spawn' = 'auto',
): AsyncGenerator<Buffer, void, undefined> {
  if (nativeZstd && impl === 'auto') {
    return through(source, nativeZstd.call(zlib, codecOptions), 'zstd', signal);
  }
  return spawnZstd(source, signal);
}

/**
 * Pipes `source` through a `zstd -dc` child process. The child never
 * outlives the iteration: finishing, failing, aborting (`signal`) or the
 * consumer stopping early all end with the child killed if still running and
 * reaped (its exit awaited), so no zombie is left. Errors, by precedence:
 * the source's own error as it is; an abort's reason; zstd exiting non-zero
 * (`invalid_argument`, with its stderr); zstd killed by a signal (`internal`);
 * no zstd binary (`failed_precondition`).
 */
export async function* spawnZstd(
  source: AsyncIterable<Uint8Array>,
  signal?: AbortSignal,
): AsyncGenerator<Buffer, void, undefined> {
  signal?.throwIfAborted();
  const child = spawn('zstd', ['-d', '-c', '-q'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(
    (resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code, sig) => resolve({ code, signal: sig }));
    },
  );
  closed.catch(() => {}); // observed below; never unhandled
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => {
    if (stderr.length < MAX_STDERR) stderr += s.slice(0, MAX_STDERR - stderr.length);
  });
  const marked = markErrors(source);
  let feedError: unknown;
  pipeline(Readable.from(marked.chunks, { objectMode: false }), child.stdin, (err) => {
    feedError = err;
  });
  const onAbort = () => {
    child.kill('SIGKILL');
    child.stdout.destroy(signal?.reason);
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const chunk of child.stdout) yield chunk as Buffer;
    let exit: Awaited<typeof closed>;
    try {
      exit = await closed;
    } catch (err) {
      throw failedPrecondition(`zstd: cannot run zstd: ${(err as Error).message}`, { cause: err });
    }
    if (feedError !== undefined && marked.failed(feedError)) throw feedError;
    signal?.throwIfAborted();
    if (exit.code !== 0) {
      const message = stderr.trim().replace(/\s+/g, ' ') || `exit status ${exit.code}`;
      if (exit.code === null) throw internal(`zstd: killed by ${exit.signal}`);
      throw invalidArgument(`zstd: ${message}`);
    }
  } catch (err) {
    if (feedError !== undefined && marked.failed(feedError)) throw feedError;
    throw err;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    child.stdin.destroy();
    child.stdout.destroy();
    child.stderr.destroy();
    await closed.catch(() => {});
  }
}
