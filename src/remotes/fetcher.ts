/**
 * Fetch: a manifest (`/manifests/<digest>`, then `/blobs/<digest>`) or a blob
 * (`/blobs/<digest>`) from the first endpoint that has it, streamed as the
 * socket delivers it (the chunks are yielded as they are, never gathered),
 * with size and digest verified while reading. A transfer cut short (reset,
 * timeout, early end) is resumed from the byte reached with
 * `Range: bytes=N-` — on a 206 the rest is appended, on a 200 the bytes
 * already had are skipped — up to the policy's number of resumes.
 */
import { createHash, type Hash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Descriptor } from '../core/content/index.js';
import {
  canceled,
  failedPrecondition,
  invalidArgument,
  notFound,
  unavailable,
} from '../core/errdefs/index.js';
import { validateDigest } from '../core/reference/index.js';
import type { FetchOptions } from '../core/remotes/index.js';
import { BodyReader } from './body-reader.js';
import { requestName, statusError, transportError } from './errors.js';
import type { RegistryHost } from './hosts.js';
import { discard, header } from './http.js';
import { isManifestType, pullScope, type Repository } from './repository.js';
import { backoffMs, isRetryableError, sleep } from './retry.js';

/** Bytes a resumed transfer must deliver before its interruption no longer counts against the bound. */
const PROGRESS_RESETS_RESUMES = 1024 * 1024;
const HASHES = new Set(['sha256', 'sha384', 'sha512']);

interface Opened {
  res: IncomingMessage;
  url: URL;
  /** Absolute position of the body's next byte (0 when the server ignored Range). */
  start: number;
}

function opName(repo: Repository): string {
  return `pull ${repo.name}`;
}

export async function* fetchBlob(
  repo: Repository,
  desc: Descriptor,
  opts: FetchOptions = {},
): AsyncGenerator<Buffer, void, undefined> {
  const op = opName(repo);
  validateDigest(desc.digest, `digest of ${desc.mediaType}`);
  const offset = opts.offset ?? 0;
  if (!Number.isSafeInteger(offset) || offset < 0 || (desc.size >= 0 && offset > desc.size)) {
    throw invalidArgument(`${op}: offset ${offset} outside ${desc.digest} (${desc.size} bytes)`);
  }
  // Everything is had already; the ingest checks the digest at commit.
  if (offset > 0 && offset === desc.size) return;
  const alg = desc.digest.slice(0, desc.digest.indexOf(':'));
  const canHash = HASHES.has(alg) && opts.verify !== false;
  // From byte 0 the digest is checked here; from an offset, at the ingest's
  // commit — unless the registry ignores Range and sends it all anyway.
  let hash: Hash | undefined = offset === 0 && canHash ? createHash(alg) : undefined;
  /** Absolute position of the next byte to take in. */
  let pos = offset;

  const { host, paths } = await locate(repo, desc, opts);
  let current = await open(repo, host, paths, pos, opts, desc);
  if (current.start === 0 && pos > 0 && hash === undefined && canHash) {
    hash = createHash(alg);
    pos = 0;
  }
  let reader = new BodyReader(current.res);
  let failures = 0;
  let posAtResume = pos;
  const policy = repo.transport.retry;
  try {
    for (;;) {
      let chunk: Buffer | undefined;
      let err: unknown;
      try {
        chunk = await reader.next();
      } catch (e) {
        err = e;
      }
      if (err === undefined && chunk === undefined && pos < desc.size) {
        err = Object.assign(new Error(`body ended at byte ${pos} of ${desc.size}`), {
          code: 'ERR_STREAM_PREMATURE_CLOSE',
        });
      }
      if (err !== undefined) {
        reader.destroy();
        if (opts.signal?.aborted) throw canceled(`${op}: canceled`, { cause: opts.signal.reason });
        if (!isRetryableError(err)) throw transportError(op, 'GET', current.url, err);
        // A resume that got far enough starts the count again; one that did not counts.
        if (pos - posAtResume >= PROGRESS_RESETS_RESUMES) failures = 0;
        if (failures >= policy.resumes) {
          throw unavailable(
            `${op}: ${requestName('GET', current.url)}: interrupted ${failures + 1} times, last at byte ${pos} of ${desc.size}: ${(err as Error).message}`,
            { cause: err },
          );
        }
        failures++;
        posAtResume = pos;
        repo.transport.opts.log?.info(
          { digest: desc.digest, at: pos, of: desc.size, err: String(err) },
          'fetch interrupted; resuming with Range',
        );
        await sleep(backoffMs(failures, policy), opts.signal);
        current = await open(repo, host, paths, pos, opts, desc);
        reader = new BodyReader(current.res);
        continue;
      }
      if (chunk === undefined) break;
      // A body from `current.start` where `pos` was asked (the server ignored
      // Range): drop what was taken in already.
      let piece = chunk;
      if (current.start < pos) {
        const drop = Math.min(pos - current.start, piece.length);
        current.start += drop;
        piece = piece.subarray(drop);
        if (piece.length === 0) continue;
      }
      current.start += piece.length;
      if (pos + piece.length > desc.size) {
        throw failedPrecondition(
          `${op}: ${requestName('GET', current.url)}: more than the ${desc.size} bytes ${desc.digest} has`,
        );
      }
      hash?.update(piece);
      const before = pos;
      pos += piece.length;
      // Bytes before `offset` (hashed only because the whole body came) are not handed out.
      if (pos <= offset) continue;
      yield before >= offset ? piece : piece.subarray(offset - before);
    }
  } finally {
    reader.destroy();
  }
  if (pos !== desc.size) {
    throw failedPrecondition(`${op}: ${desc.digest}: got ${pos} bytes, expected ${desc.size}`);
  }
  if (hash !== undefined) {
    const got = `${alg}:${hash.digest('hex')}`;
    if (got !== desc.digest) {
      throw failedPrecondition(
        `${op}: ${requestName('GET', current.url)}: content is ${got}, expected ${desc.digest}`,
      );
    }
  }
}

/** The first endpoint that has `desc` (and the path that serves it there). */
async function locate(
  repo: Repository,
  desc: Descriptor,
  opts: FetchOptions,
): Promise<{ host: RegistryHost; paths: string[] }> {
  const op = opName(repo);
  const hosts = repo.hostsWith('pull');
  if (hosts.length === 0) throw notFound(`${op}: no endpoint may pull from ${repo.ref.domain}`);
  const candidates = isManifestType(desc.mediaType)
    ? [`manifests/${desc.digest}`, `blobs/${desc.digest}`]
    : [`blobs/${desc.digest}`];
  if (hosts.length === 1) return { host: hosts[0] as RegistryHost, paths: candidates };
  // Several endpoints: probe in order with HEAD so that a mirror without the blob is skipped.
  let firstErr: Error | undefined;
  for (const host of hosts) {
    for (const path of candidates) {
      try {
        const { res, url } = await repo.transport.do({
          op,
          method: 'HEAD',
          host,
          url: repo.url(host, path),
          headers: { accept: `${desc.mediaType}, */*` },
          scopes: [pullScope(repo.repo)],
          ...(opts.signal ? { signal: opts.signal } : {}),
        });
        const s = res.statusCode ?? 0;
        if (s >= 200 && s < 300) {
          discard(res);
          return { host, paths: [path] };
        }
        if (s !== 404) firstErr ??= await statusError(op, 'HEAD', url, res);
        else discard(res);
      } catch (err) {
        if (opts.signal?.aborted) throw err;
        firstErr ??= err as Error;
      }
    }
  }
  throw (
    firstErr ??
    notFound(`${op}: ${desc.digest} not found on ${hosts.map((h) => h.host).join(', ')}`)
  );
}

/** GET from byte `from` (a Range request when > 0), trying `paths` in order on 404. */
async function open(
  repo: Repository,
  host: RegistryHost,
  paths: string[],
  from: number,
  opts: FetchOptions,
  desc: Descriptor,
): Promise<Opened> {
  const op = opName(repo);
  let lastErr: Error | undefined;
  for (const path of paths) {
    const headers: Record<string, string> = { accept: `${desc.mediaType}, */*` };
    if (from > 0) headers.range = `bytes=${from}-`;
    const { res, url } = await repo.transport.do({
      op,
      method: 'GET',
      host,
      url: repo.url(host, path),
      headers,
      scopes: [pullScope(repo.repo)],
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    const status = res.statusCode ?? 0;
    if (status === 404) {
      lastErr = await statusError(op, 'GET', url, res);
      continue;
    }
    if (status === 206) {
      const range = header(res, 'content-range') ?? '';
      const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(range.trim());
      if (m === null || Number(m[1]) !== from) {
        discard(res);
        throw failedPrecondition(
          `${op}: ${requestName('GET', url)}: asked for bytes ${from}-, got Content-Range "${range}"`,
        );
      }
      return { res, url, start: from };
    }
    if (status === 200) {
      const len = header(res, 'content-length');
      if (len !== undefined && Number(len) !== desc.size) {
        discard(res);
        throw failedPrecondition(
          `${op}: ${requestName('GET', url)}: Content-Length ${len}, but ${desc.digest} has ${desc.size} bytes`,
        );
      }
      return { res, url, start: 0 };
    }
    throw await statusError(op, 'GET', url, res);
  }
  throw lastErr ?? notFound(`${op}: ${desc.digest} not found`);
}
