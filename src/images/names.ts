/**
 * @module
 * The few reference rules the image operations need: splitting a normalized
 * name into host and repository (for the distribution-source labels) and
 * normalizing Docker's familiar names (`busybox` →
 * `docker.io/library/busybox:latest`), as docker/distribution's reference
 * package does for containerd's import of `RepoTags`.
 */
import { invalidArgument } from '../core/errdefs/index.js';

export interface NameParts {
  /** `127.0.0.1:5000`, `docker.io`. */
  host: string;
  /** The host without its port (what containerd's distribution-source label keys use). */
  hostname: string;
  /** The repository path: `library/busybox`. */
  path: string;
  tag?: string;
  digest?: string;
}

const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;

/** Splits a fully qualified reference (`host/path[:tag][@digest]`). */
export function splitName(ref: string): NameParts {
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest))
      throw invalidArgument(`reference ${JSON.stringify(ref)}: invalid digest`);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw invalidArgument(`reference ${JSON.stringify(ref)}: invalid tag`);
  }
  const slash = rest.indexOf('/');
  if (slash <= 0) throw invalidArgument(`reference ${JSON.stringify(ref)}: no host and repository`);
  const host = rest.slice(0, slash);
  const path = rest.slice(slash + 1);
  if (path === '') throw invalidArgument(`reference ${JSON.stringify(ref)}: empty repository`);
  const hostname = host.startsWith('[')
    ? host.slice(0, host.indexOf(']') + 1)
    : host.split(':')[0]!;
  const out: NameParts = { host, hostname, path };
  if (tag !== undefined) out.tag = tag;
  if (digest !== undefined) out.digest = digest;
  return out;
}

/**
 * Docker's ParseDockerRef: a familiar name gets `docker.io`, one-component
 * Docker Hub names `library/`, and a name without tag or digest `:latest`.
 * `invalid_argument` for what is not a reference.
 */
export function normalizeName(name: string): string {
  let rest = name;
  let suffix = '';
  const at = rest.indexOf('@');
  if (at >= 0) {
    suffix = rest.slice(at);
    rest = rest.slice(0, at);
    if (!DIGEST.test(suffix.slice(1))) {
      throw invalidArgument(`reference ${JSON.stringify(name)}: invalid digest`);
    }
  }
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    const tag = rest.slice(colon + 1);
    if (!TAG.test(tag)) throw invalidArgument(`reference ${JSON.stringify(name)}: invalid tag`);
    suffix = `:${tag}${suffix}`;
    rest = rest.slice(0, colon);
  }
  if (rest === '') throw invalidArgument(`reference ${JSON.stringify(name)}: empty name`);
  const slash = rest.indexOf('/');
  const first = slash < 0 ? '' : rest.slice(0, slash);
  let domain: string;
  let path: string;
  if (slash < 0 || (!first.includes('.') && !first.includes(':') && first !== 'localhost')) {
    domain = 'docker.io';
    path = rest;
  } else {
    domain = first;
    path = rest.slice(slash + 1);
  }
  if (domain === 'index.docker.io') domain = 'docker.io';
  if (domain === 'docker.io' && !path.includes('/')) path = `library/${path}`;
  for (const c of path.split('/')) {
    if (!PATH_COMPONENT.test(c)) {
      throw invalidArgument(`reference ${JSON.stringify(name)}: invalid repository name`);
    }
  }
  // A digest alone keeps no tag (ParseDockerRef tags only names with neither).
  if (suffix === '') suffix = ':latest';
  return `${domain}/${path}${suffix}`;
}

/** Whether a name is a reference with a tag or digest. */
export function isTaggedOrDigested(name: string): boolean {
  try {
    const p = splitName(name);
    return p.tag !== undefined || p.digest !== undefined;
  } catch {
    return false;
  }
}

/**
 * Docker's familiar form of a normalized name, tagged `latest` when it has
 * neither tag nor digest (containerd's familiarizeReference for RepoTags):
 * `docker.io/library/busybox:latest` → `busybox:latest`.
 */
export function familiarName(name: string): string {
  let n = normalizeName(name);
  if (n.startsWith('docker.io/')) {
    n = n.slice('docker.io/'.length);
    if (n.startsWith('library/') && !n.slice('library/'.length).includes('/')) {
      n = n.slice('library/'.length);
    }
  }
  return n;
}

/** containerd's ociReferenceName: the tag (and digest) part of a reference. */
export function ociReferenceName(name: string): string {
  try {
    const p = splitName(name);
    if (p.tag !== undefined) return p.digest ? `${p.tag}@${p.digest}` : p.tag;
    if (p.digest !== undefined) return `@${p.digest}`;
    return name;
  } catch {
    return name;
  }
}
