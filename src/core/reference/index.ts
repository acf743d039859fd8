/**
 * @module reference
 * Image references as Docker and containerd spell them: `[domain/]path[:tag][@digest]`.
 *
 * The grammar is distribution's: a domain is the first `/`-separated component
 * when it holds a `.` or a `:`, is `localhost`, or has an upper-case letter;
 * otherwise the reference is on Docker Hub (`docker.io`), where a one-component
 * path lives under `library/`. Path components are lower-case alphanumerics
 * joined by `.`, `_`, `__` or runs of `-`; a tag is `[\w][\w.-]{0,127}`; a digest
 * is `algorithm:hex` (sha256 and sha512 checked for length and lower-case hex).
 *
 * @example
 * ```ts
 * normalizeReference('busybox')            // 'docker.io/library/busybox:latest'
 * normalizeReference('localhost:5000/x')   // 'localhost:5000/x:latest'
 * familiarName('docker.io/library/busybox:latest') // 'busybox'
 * ```
 */
import { invalidArgument } from '../errdefs/index.js';

/** The registry Docker Hub references name. */
export const DEFAULT_DOMAIN = 'docker.io';
/** Docker Hub's namespace for one-component names (`busybox`). */
export const OFFICIAL_REPO_PREFIX = 'library/';
/** The host Docker Hub's registry API is served from. */
export const DOCKER_HUB_HOST = 'registry-1.docker.io';
/** Legacy spellings of Docker Hub's domain, normalized to {@link DEFAULT_DOMAIN}. */
const LEGACY_DOMAINS = new Set(['index.docker.io']);
/** The tag a reference without tag or digest gets. */
export const DEFAULT_TAG = 'latest';
/** distribution's limit on a name (domain and path). */
export const NAME_TOTAL_LENGTH_MAX = 255;

export interface Reference {
  /** The registry: `docker.io`, `localhost:5000`, `[::1]:5000`. */
  domain: string;
  /** The repository inside it: `library/busybox`. */
  path: string;
  tag?: string;
  digest?: string;
}

const ALNUM = '[a-z0-9]+';
const SEPARATOR = '(?:[._]|__|[-]+)';
const PATH_COMPONENT = `${ALNUM}(?:${SEPARATOR}${ALNUM})*`;
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const IPV6 = '\\[(?:[a-fA-F0-9:]+)\\]';
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|${IPV6})(?::[0-9]+)?`;

const PATH_RE = new RegExp(`^${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);
const DOMAIN_RE = new RegExp(`^${DOMAIN}$`);
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const DIGEST_RE = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const HEX64_RE = /^[a-f0-9]{64}$/;
const DIGEST_HEX: Record<string, RegExp> = {
  sha256: /^[a-f0-9]{64}$/,
  sha384: /^[a-f0-9]{96}$/,
  sha512: /^[a-f0-9]{128}$/,
};

function invalid(s: string, why: string): Error {
  return invalidArgument(`invalid reference "${s}": ${why}`);
}

/**
 * Checks `digest` (`sha256:<64 hex>`); throws invalid_argument naming it.
 * Unknown algorithms are accepted when well-formed (the registry decides).
 */
export function validateDigest(digest: string, what = 'digest'): void {
  if (!DIGEST_RE.test(digest)) throw invalidArgument(`invalid ${what} "${digest}"`);
  const i = digest.indexOf(':');
  const hex = DIGEST_HEX[digest.slice(0, i)];
  if (hex !== undefined && !hex.test(digest.slice(i + 1))) {
    throw invalidArgument(`invalid ${what} "${digest}": wrong length or not lower-case hex`);
  }
}

/**
 * Parses and normalizes `s` (familiar forms allowed): the domain defaults to
 * docker.io and Hub's one-component paths get `library/`. Tag and digest are
 * kept as given (no default tag: see {@link normalizeReference}).
 */
export function parseReference(s: string): Reference {
  if (s === '') throw invalid(s, 'empty');
  if (s !== s.trim()) throw invalid(s, 'leading or trailing space');
  let rest = s;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    try {
      validateDigest(digest);
    } catch (err) {
      throw invalid(s, (err as Error).message);
    }
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) throw invalid(s, `bad tag "${tag}"`);
  }
  if (rest === '') throw invalid(s, 'no repository name');

  let domain: string;
  let path: string;
  const slash = rest.indexOf('/');
  const first = slash < 0 ? '' : rest.slice(0, slash);
  if (
    slash < 0 ||
    (!/[.:]/.test(first) && first !== 'localhost' && first.toLowerCase() === first)
  ) {
    domain = DEFAULT_DOMAIN;
    path = rest;
  } else {
    domain = first;
    path = rest.slice(slash + 1);
  }
  if (LEGACY_DOMAINS.has(domain)) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !path.includes('/')) path = OFFICIAL_REPO_PREFIX + path;

  if (!DOMAIN_RE.test(domain)) throw invalid(s, `bad registry host "${domain}"`);
  if (path.toLowerCase() !== path && PATH_RE.test(path.toLowerCase())) {
    throw invalid(s, 'repository name must be lowercase');
  }
  if (!PATH_RE.test(path)) throw invalid(s, `bad repository name "${path}"`);
  if (
    HEX64_RE.test(path.slice(path.lastIndexOf('/') + 1)) &&
    domain === DEFAULT_DOMAIN &&
    slash < 0
  ) {
    throw invalid(s, 'a 64-character hexadecimal string is an image ID, not a name');
  }
  if (domain.length + 1 + path.length > NAME_TOTAL_LENGTH_MAX) {
    throw invalid(s, `name longer than ${NAME_TOTAL_LENGTH_MAX} characters`);
  }
  const ref: Reference = { domain, path };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/** `domain/path[:tag][@digest]`. */
export function referenceString(ref: Reference): string {
  let s = `${ref.domain}/${ref.path}`;
  if (ref.tag !== undefined) s += `:${ref.tag}`;
  if (ref.digest !== undefined) s += `@${ref.digest}`;
  return s;
}

/** `domain/path`, the repository's full name. */
export function referenceName(ref: Reference): string {
  return `${ref.domain}/${ref.path}`;
}

/**
 * containerd's `ParseDockerRef`: the full form with `:latest` when neither tag
 * nor digest is given, and only the digest when both are.
 */
export function normalizeReference(s: string): string {
  const ref = parseReference(s);
  if (ref.digest !== undefined) {
    return referenceString({ domain: ref.domain, path: ref.path, digest: ref.digest });
  }
  return referenceString({ ...ref, tag: ref.tag ?? DEFAULT_TAG });
}

/** The name as Docker shows it: `busybox`, `user/app`, `localhost:5000/x` (no tag or digest). */
export function familiarName(s: string): string {
  const ref = parseReference(s);
  if (ref.domain !== DEFAULT_DOMAIN) return referenceName(ref);
  const rest = ref.path.slice(OFFICIAL_REPO_PREFIX.length);
  return ref.path.startsWith(OFFICIAL_REPO_PREFIX) && !rest.includes('/') ? rest : ref.path;
}

/** The reference as Docker shows it: {@link familiarName} with its tag and digest. */
export function familiarString(s: string): string {
  const ref = parseReference(s);
  let out = familiarName(s);
  if (ref.tag !== undefined) out += `:${ref.tag}`;
  if (ref.digest !== undefined) out += `@${ref.digest}`;
  return out;
}

/**
 * The registry host a reference's domain is served from: Docker Hub's API
 * lives at `registry-1.docker.io`; every other domain is its own host.
 */
export function registryHost(domain: string): string {
  return domain === DEFAULT_DOMAIN ? DOCKER_HUB_HOST : domain;
}
