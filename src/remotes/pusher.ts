/**
 * Push: one blob or manifest to the reference's repository on its first
 * push-capable endpoint.
 *
 * - `HEAD` first: a blob the repository has, or a manifest already under its
 *   digest (or under the tag with that digest), is not sent again (→ false).
 * - Blobs: a cross-repository mount from each `mountFrom` repository
 *   (`POST /blobs/uploads/?mount=<digest>&from=<repo>`: 201 = mounted → false;
 *   202 = the registry opened an upload instead), else `POST /blobs/uploads/`;
 *   then one `PUT <location>?digest=` with the body (monolithic) for blobs up
 *   to {@link MONOLITHIC_MAX}, else `PATCH` chunks with `Content-Range` and a
 *   closing `PUT ?digest=`, each request going to the `Location` the last
 *   answer gave. The bytes are hashed on the way and checked before the
 *   closing PUT. A failed upload is retried from byte 0 (`data()` again).
 * - Manifests: `PUT /manifests/<tag or digest>` with their media type. The
 *   reference's tag is used as containerd does: with `name:tag@digest` only
 *   the manifest of that digest gets the tag; with `name:tag` every manifest
 *   is put under the tag — children go first, so the root, pushed last, keeps it.
 */
import { createHash } from 'node:crypto';
import type { Descriptor } from '../core/content/index.js';
import {
  failedPrecondition,
  invalidArgument,
  isUnavailable,
  notFound,
} from '../core/errdefs/index.js';
import { validateDigest } from '../core/reference/index.js';
import type { PushOptions } from '../core/remotes/index.js';
import { protocolError, requestName, statusError } from './errors.js';
import type { RegistryHost } from './hosts.js';
import { discard, header } from './http.js';
import {
  isManifestType,
  MAX_MANIFEST_SIZE,
  pullScope,
  pushScope,
  type Repository,
} from './repository.js';
import { backoffMs, isRetryableError, sleep } from './retry.js';

/** Blobs up to this size go up in one PUT; larger ones in PATCH chunks. */
export const MONOLITHIC_MAX = 32 * 1024 * 1024;
/** The size of one PATCH. */
export const CHUNK_SIZE = 32 * 1024 * 1024;
/** Whole-upload attempts (each starts from byte 0 with a new upload session). */
const UPLOAD_ATTEMPTS = 3;

export interface PushTuning {
  monolithicMax?: number;
  chunkSize?: number;
}

function opName(repo: Repository): string {
  return `push ${repo.name}`;
}

export async function push(
  repo: Repository,
  desc: Descriptor,
  data: () => AsyncIterable<Buffer>,
  opts: PushOptions = {},
  tuning: PushTuning = {},
): Promise<boolean> {
  const op = opName(repo);
  validateDigest(desc.digest, `digest of ${desc.mediaType}`);
  if (!Number.isSafeInteger(desc.size) || desc.size < 0) {
    throw invalidArgument(`${op}: ${desc.digest}: bad size ${desc.size}`);
  }
  const host = repo.hostsWith('push')[0];
  if (host === undefined) throw notFound(`${op}: no endpoint may push to ${repo.ref.domain}`);
  return isManifestType(desc.mediaType)
    ? pushManifest(repo, host, desc, data, opts)
    : pushBlob(repo, host, desc, data, opts, tuning);
}

/** The tag or digest a manifest is put under. */
export function manifestObject(repo: Repository, desc: Descriptor): string {
  const { tag, digest } = repo.ref;
  if (tag === undefined) return desc.digest;
  if (digest !== undefined && digest !== desc.digest) return desc.digest;
  return tag;
}

function base(repo: Repository, host: RegistryHost, scopes: string[], opts: PushOptions) {
  return { op: opName(repo), host, scopes, ...(opts.signal ? { signal: opts.signal } : {}) };
}

async function pushManifest(
  repo: Repository,
  host: RegistryHost,
  desc: Descriptor,
  data: () => AsyncIterable<Buffer>,
  opts: PushOptions,
): Promise<boolean> {
  const op = opName(repo);
  if (desc.size > MAX_MANIFEST_SIZE) {
    throw invalidArgument(`${op}: ${desc.digest}: a ${desc.size} byte manifest is too large`);
  }
  const object = manifestObject(repo, desc);
  const b = base(repo, host, [pushScope(repo.repo)], opts);
  const headUrl = repo.url(host, `manifests/${object}`);
  const head = await repo.transport.do({
    ...b,
    method: 'HEAD',
    url: headUrl,
    headers: { accept: `${desc.mediaType}, */*` },
  });
  const hs = head.res.statusCode ?? 0;
  discard(head.res);
  if (
    hs === 200 &&
    (object === desc.digest || header(head.res, 'docker-content-digest') === desc.digest)
  ) {
    return false;
  }
  if (hs !== 200 && hs !== 404) throw await statusError(op, 'HEAD', head.url, head.res);

  // Manifests are small: read whole (bounded), checked, and sent with a length (so retries can resend).
  const body = await readAll(data(), desc.size, op, desc);
  const url = repo.url(host, `manifests/${object}`);
  const { res, url: at } = await repo.transport.do({
    ...b,
    method: 'PUT',
    url,
    headers: { 'content-type': desc.mediaType, 'content-length': String(body.length) },
    body,
  });
  const status = res.statusCode ?? 0;
  if (status !== 200 && status !== 201 && status !== 204)
    throw await statusError(op, 'PUT', at, res);
  const got = header(res, 'docker-content-digest');
  discard(res);
  if (got !== undefined && got !== desc.digest) {
    throw failedPrecondition(
      `${op}: ${requestName('PUT', at)}: registry stored ${got}, expected ${desc.digest}`,
    );
  }
  return true;
}

async function readAll(
  src: AsyncIterable<Buffer>,
  size: number,
  op: string,
  desc: Descriptor,
): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of src) {
    n += c.length;
    if (n > size) throw failedPrecondition(`${op}: ${desc.digest}: data longer than ${size} bytes`);
    parts.push(c);
  }
  const body = Buffer.concat(parts);
  checkDigest(body.length, createHash('sha256').update(body).digest('hex'), op, desc);
  return body;
}

function checkDigest(n: number, sha256hex: string, op: string, desc: Descriptor): void {
  if (n !== desc.size)
    throw failedPrecondition(`${op}: ${desc.digest}: data is ${n} bytes, expected ${desc.size}`);
  if (desc.digest.startsWith('sha256:') && `sha256:${sha256hex}` !== desc.digest) {
    throw failedPrecondition(`${op}: data is sha256:${sha256hex}, expected ${desc.digest}`);
  }
}

async function pushBlob(
  repo: Repository,
  host: RegistryHost,
  desc: Descriptor,
  data: () => AsyncIterable<Buffer>,
  opts: PushOptions,
  tuning: PushTuning,
): Promise<boolean> {
  const op = opName(repo);
  const b = base(repo, host, [pushScope(repo.repo)], opts);
  const head = await repo.transport.do({
    ...b,
    method: 'HEAD',
    url: repo.url(host, `blobs/${desc.digest}`),
  });
  const hs = head.res.statusCode ?? 0;
  discard(head.res);
  if (hs === 200) return false;
  if (hs !== 404) throw await statusError(op, 'HEAD', head.url, head.res);

  for (let attempt = 1; ; attempt++) {
    try {
      const location = await startUpload(repo, host, desc, opts);
      if (location === undefined) return false; // mounted
      await upload(repo, host, location, desc, data(), opts, tuning);
      return true;
    } catch (err) {
      const again = (isRetryableError(err) || isUnavailable(err)) && !opts.signal?.aborted;
      if (!again || attempt >= UPLOAD_ATTEMPTS) throw err;
      repo.transport.opts.log?.info(
        { digest: desc.digest, err: String(err) },
        'upload failed; starting over',
      );
      await sleep(backoffMs(attempt, repo.transport.retry), opts.signal);
    }
  }
}

/** Opens an upload session (trying mounts first); its location, or undefined when a mount did it. */
async function startUpload(
  repo: Repository,
  host: RegistryHost,
  desc: Descriptor,
  opts: PushOptions,
): Promise<URL | undefined> {
  const op = opName(repo);
  for (const from of opts.mountFrom ?? []) {
    if (from === repo.repo) continue;
    const url = repo.url(host, 'blobs/uploads/', { mount: desc.digest, from });
    const { res, url: at } = await repo.transport.do({
      ...base(repo, host, [pushScope(repo.repo), pullScope(from)], opts),
      method: 'POST',
      url,
      headers: { 'content-length': '0' },
      body: Buffer.alloc(0),
    });
    const status = res.statusCode ?? 0;
    if (status === 201) {
      discard(res);
      repo.transport.opts.log?.debug({ digest: desc.digest, from }, 'blob mounted');
      return undefined;
    }
    if (status === 202) {
      // Not mountable from there; the registry opened an upload session instead.
      discard(res);
      return locationOf(res, at, op, 'POST');
    }
    // 401/403/404 on a mount: the source is not readable; upload instead.
    discard(res);
  }
  const url = repo.url(host, 'blobs/uploads/');
  const { res, url: at } = await repo.transport.do({
    ...base(repo, host, [pushScope(repo.repo)], opts),
    method: 'POST',
    url,
    headers: { 'content-length': '0' },
    body: Buffer.alloc(0),
  });
  const status = res.statusCode ?? 0;
  if (status === 201) {
    discard(res);
    return undefined;
  }
  if (status !== 202 && status !== 200 && status !== 204)
    throw await statusError(op, 'POST', at, res);
  discard(res);
  return locationOf(res, at, op, 'POST');
}

function locationOf(
  res: import('node:http').IncomingMessage,
  at: URL,
  op: string,
  method: string,
): URL {
  const loc = header(res, 'location');
  if (loc === undefined || loc === '')
    throw protocolError(op, method, at, 'answer has no Location');
  try {
    return new URL(loc, at);
  } catch {
    throw protocolError(op, method, at, `bad Location "${loc}"`);
  }
}

/**
 * The endpoint a Location belongs to: the same one (its credentials apply)
 * when it has the endpoint's origin, else a bare endpoint without them.
 */
function hostFor(host: RegistryHost, loc: URL): RegistryHost {
  if (loc.origin === new URL(`${host.scheme}://${host.host}`).origin) return host;
  return {
    ...host,
    host: loc.host,
    scheme: loc.protocol === 'http:' ? 'http' : 'https',
    header: {},
  };
}

/** Cuts a stream of buffers into pieces of at most `n` bytes without copying. */
class Chunker {
  private leftover: Buffer | undefined;
  private readonly it: AsyncIterator<Buffer>;
  private done = false;

  constructor(src: AsyncIterable<Buffer>) {
    this.it = src[Symbol.asyncIterator]();
  }

  /** The next `n` bytes (fewer at the end) as a stream of the source's own buffers. */
  async *take(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      let c = this.leftover;
      this.leftover = undefined;
      if (c === undefined) {
        if (this.done) return;
        const r = await this.it.next();
        if (r.done) {
          this.done = true;
          return;
        }
        c = r.value;
      }
      if (c.length > left) {
        this.leftover = c.subarray(left);
        c = c.subarray(0, left);
      }
      left -= c.length;
      yield c;
    }
  }

  async atEnd(): Promise<boolean> {
    if (this.leftover !== undefined && this.leftover.length > 0) return false;
    if (this.done) return true;
    const r = await this.it.next();
    if (r.done) {
      this.done = true;
      return true;
    }
    this.leftover = r.value;
    return r.value.length === 0 ? this.atEnd() : false;
  }
}

async function upload(
  repo: Repository,
  host: RegistryHost,
  start: URL,
  desc: Descriptor,
  src: AsyncIterable<Buffer>,
  opts: PushOptions,
  tuning: PushTuning,
): Promise<void> {
  const op = opName(repo);
  const scopes = [pushScope(repo.repo)];
  const hash = createHash('sha256');
  let n = 0;
  /** Hashes and counts what goes up; a piece that comes short of `end` fails the request it feeds. */
  const counted = async function* (s: AsyncIterable<Buffer>, end: number) {
    for await (const c of s) {
      n += c.length;
      if (n > desc.size)
        throw failedPrecondition(`${op}: ${desc.digest}: data longer than ${desc.size} bytes`);
      hash.update(c);
      yield c;
    }
    if (n !== end) {
      throw failedPrecondition(
        `${op}: ${desc.digest}: data ended at byte ${n}, expected ${desc.size}`,
      );
    }
  };
  let location = start;
  const chunker = new Chunker(src);
  const monolithicMax = tuning.monolithicMax ?? MONOLITHIC_MAX;
  const chunkSize = tuning.chunkSize ?? CHUNK_SIZE;

  if (desc.size > monolithicMax) {
    let offset = 0;
    while (offset < desc.size) {
      const len = Math.min(chunkSize, desc.size - offset);
      const h = hostFor(host, location);
      const { res, url: at } = await repo.transport.do({
        op,
        host: h,
        scopes,
        ...(opts.signal ? { signal: opts.signal } : {}),
        method: 'PATCH',
        url: location,
        headers: {
          'content-type': 'application/octet-stream',
          'content-length': String(len),
          'content-range': `${offset}-${offset + len - 1}`,
        },
        body: counted(chunker.take(len), offset + len),
      });
      const status = res.statusCode ?? 0;
      if (status !== 202 && status !== 204) throw await statusError(op, 'PATCH', at, res);
      discard(res);
      location = locationOf(res, at, op, 'PATCH');
      offset += len;
    }
    if (!(await chunker.atEnd())) {
      throw failedPrecondition(`${op}: ${desc.digest}: data longer than ${desc.size} bytes`);
    }
    checkDigest(n, hash.digest('hex'), op, desc);
  }
  // The closing PUT: with the whole body (monolithic) or empty after the chunks.
  const monolithic = desc.size <= monolithicMax;
  const put = new URL(location);
  put.searchParams.set('digest', desc.digest);
  let body: AsyncIterable<Buffer> | Buffer = Buffer.alloc(0);
  if (monolithic) body = counted(chunker.take(desc.size), desc.size);
  const { res, url: at } = await repo.transport.do({
    op,
    host: hostFor(host, put),
    scopes,
    ...(opts.signal ? { signal: opts.signal } : {}),
    method: 'PUT',
    url: put,
    headers: {
      'content-type': 'application/octet-stream',
      'content-length': String(monolithic ? desc.size : 0),
    },
    body,
  });
  const status = res.statusCode ?? 0;
  if (monolithic) {
    if (!(await chunker.atEnd())) {
      discard(res);
      throw failedPrecondition(`${op}: ${desc.digest}: data longer than ${desc.size} bytes`);
    }
    // The registry checks the digest too; this names what was sent.
    checkDigest(n, hash.digest('hex'), op, desc);
  }
  if (status !== 201 && status !== 200 && status !== 204)
    throw await statusError(op, 'PUT', at, res);
  const got = header(res, 'docker-content-digest');
  discard(res);
  if (got !== undefined && got !== desc.digest) {
    throw failedPrecondition(
      `${op}: ${requestName('PUT', at)}: registry stored ${got}, expected ${desc.digest}`,
    );
  }
}
