/**
 * Resolve: a tag or digest to the descriptor of the manifest or index it
 * names. `HEAD /v2/<repo>/manifests/<ref>` on each endpoint that may resolve
 * (mirrors first); the descriptor is the answer's media type,
 * `Docker-Content-Digest` and length. Without a digest header or length (or
 * with a media type that is no manifest type), the manifest is fetched with
 * GET and hashed. A digest reference is checked against the registry's
 * `Docker-Content-Digest`, or against the hash of what it serves when it
 * sends none, and falls back to `/blobs/` as containerd does.
 */
import { createHash } from 'node:crypto';
import type { Descriptor } from '../core/content/index.js';
import { failedPrecondition, notFound } from '../core/errdefs/index.js';
import { validateDigest } from '../core/reference/index.js';
import type { RemoteOptions, Resolved } from '../core/remotes/index.js';
import { protocolError, statusError } from './errors.js';
import type { RegistryHost } from './hosts.js';
import { discard, header } from './http.js';
import {
  isManifestType,
  MAX_MANIFEST_SIZE,
  pullScope,
  RESOLVE_ACCEPT,
  type Repository,
} from './repository.js';

/** `application/vnd.oci.image.index.v1+json; charset=utf-8` → the media type alone. */
export function mediaTypeOf(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

/** A manifest's media type from its body, when the registry's Content-Type says nothing useful. */
function sniffMediaType(body: Buffer): string | undefined {
  try {
    const j = JSON.parse(body.toString('utf8')) as {
      mediaType?: unknown;
      manifests?: unknown;
      layers?: unknown;
      config?: unknown;
    };
    if (typeof j.mediaType === 'string' && j.mediaType !== '') return j.mediaType;
    if (Array.isArray(j.manifests)) return 'application/vnd.oci.image.index.v1+json';
    if (j.config !== undefined && Array.isArray(j.layers)) {
      return 'application/vnd.oci.image.manifest.v1+json';
    }
  } catch {
    // not JSON: leave the type as the registry gave it
  }
  return undefined;
}

function opName(repo: Repository): string {
  return `pull ${repo.name}`;
}

export async function resolve(repo: Repository, opts: RemoteOptions = {}): Promise<Resolved> {
  const { ref } = repo;
  const op = opName(repo);
  const dgst = ref.digest;
  if (dgst !== undefined) validateDigest(dgst);
  const paths =
    dgst !== undefined
      ? [`manifests/${dgst}`, `blobs/${dgst}`]
      : [`manifests/${ref.tag ?? 'latest'}`];
  const hosts = dgst !== undefined ? repo.hostsWith('pull') : repo.hostsWith('pull', 'resolve');
  if (hosts.length === 0) throw notFound(`${op}: no endpoint may resolve ${ref.domain}`);

  let firstErr: Error | undefined;
  for (const path of paths) {
    for (const host of hosts) {
      try {
        const desc = await resolveAt(repo, host, path, opts);
        if (desc !== undefined) return { name: repo.name, desc };
      } catch (err) {
        firstErr ??= err as Error;
        repo.transport.opts.log?.info(
          { host: host.host, err: String(err) },
          'resolve: trying next host',
        );
      }
    }
  }
  throw (
    firstErr ?? notFound(`${op}: ${repo.name} not found on ${hosts.map((h) => h.host).join(', ')}`)
  );
}

/** The descriptor from one endpoint; undefined on 404. */
async function resolveAt(
  repo: Repository,
  host: RegistryHost,
  path: string,
  opts: RemoteOptions,
): Promise<Descriptor | undefined> {
  const op = opName(repo);
  const want = repo.ref.digest;
  const url = repo.url(host, path);
  const base = {
    op,
    host,
    url,
    headers: { accept: RESOLVE_ACCEPT },
    scopes: [pullScope(repo.repo)],
    ...(opts.signal ? { signal: opts.signal } : {}),
  };
  let { res, url: at } = await repo.transport.do({ ...base, method: 'HEAD' });
  let method = 'HEAD';
  if (res.statusCode === 405) {
    // Registries without HEAD on manifests (containerd retries these with GET).
    discard(res);
    ({ res, url: at } = await repo.transport.do({ ...base, method: 'GET' }));
    method = 'GET';
  }
  const status = res.statusCode ?? 0;
  if (status === 404) {
    discard(res);
    return undefined;
  }
  if (status < 200 || status > 299) throw await statusError(op, method, at, res);

  let mediaType = mediaTypeOf(header(res, 'content-type'));
  let digest = header(res, 'docker-content-digest');
  const lengthHeader = header(res, 'content-length');
  let size = lengthHeader !== undefined && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : -1;
  if (digest !== undefined) {
    try {
      validateDigest(digest, 'Docker-Content-Digest');
    } catch (err) {
      discard(res);
      throw protocolError(op, method, at, (err as Error).message);
    }
  }
  if (want !== undefined && digest !== undefined && digest !== want) {
    discard(res);
    throw failedPrecondition(
      `${op}: ${method} ${at}: registry says ${digest}, the reference names ${want}`,
    );
  }
  const known = path.startsWith('blobs/') || isManifestType(mediaType);
  // The registry's digest (equal to the reference's, checked above) and length suffice.
  if (method === 'HEAD' && digest !== undefined && size >= 0 && known) {
    discard(res);
    return checkSize({ mediaType, digest, size }, op, method, at);
  }

  // No digest header, no length or an unhelpful type: fetch the manifest and hash it.
  if (method === 'HEAD') {
    discard(res);
    ({ res, url: at } = await repo.transport.do({ ...base, method: 'GET' }));
    method = 'GET';
    const s = res.statusCode ?? 0;
    if (s === 404) {
      discard(res);
      return undefined;
    }
    if (s < 200 || s > 299) throw await statusError(op, method, at, res);
    mediaType = mediaTypeOf(header(res, 'content-type'));
    digest = header(res, 'docker-content-digest') ?? digest;
  }
  const parts: Buffer[] = [];
  let n = 0;
  const hash = createHash('sha256');
  for await (const chunk of res as AsyncIterable<Buffer>) {
    n += chunk.length;
    if (n > MAX_MANIFEST_SIZE) {
      res.destroy();
      throw failedPrecondition(
        `${op}: ${method} ${at}: manifest larger than ${MAX_MANIFEST_SIZE} bytes`,
      );
    }
    hash.update(chunk);
    parts.push(chunk);
  }
  size = n;
  const computed = `sha256:${hash.digest('hex')}`;
  const expected = want ?? digest;
  if (expected?.startsWith('sha256:') && expected !== computed) {
    throw failedPrecondition(
      `${op}: ${method} ${at}: content is ${computed}, expected ${expected}`,
    );
  }
  if (!isManifestType(mediaType)) mediaType = sniffMediaType(Buffer.concat(parts)) ?? mediaType;
  return checkSize({ mediaType, digest: expected ?? computed, size }, op, method, at);
}

function checkSize(desc: Descriptor, op: string, method: string, at: URL): Descriptor {
  if (desc.size > MAX_MANIFEST_SIZE) {
    throw failedPrecondition(`${op}: ${method} ${at}: rejecting a ${desc.size} byte manifest`);
  }
  return desc;
}
