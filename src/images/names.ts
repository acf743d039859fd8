/**
 * @module
 * The few reference rules the image operations need: splitting a normalized
 * name into host and repository (for the distribution-source labels) and
 * normalizing Docker's familiar names (`busybox` →
 * `docker.io/library/busybox:latest`), as docker/distribution's reference
 * package does for containerd's import of `RepoTags`.
 */
import { familiarString, normalizeReference, parseReference } from '../core/reference/index.js';

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

/** Splits a reference (`host/path[:tag][@digest]`; familiar names get `docker.io`). */
export function splitName(ref: string): NameParts {
  const r = parseReference(ref);
  const host = r.domain;
  const hostname = host.startsWith('[')
    ? host.slice(0, host.indexOf(']') + 1)
    : (host.split(':')[0] ?? host);
  const out: NameParts = { host, hostname, path: r.path };
  if (r.tag !== undefined) out.tag = r.tag;
  if (r.digest !== undefined) out.digest = r.digest;
  return out;
}

/**
 * Docker's ParseDockerRef (core/reference): a familiar name gets `docker.io`,
 * one-component Docker Hub names `library/`, and a name without tag or
 * digest `:latest`. `invalid_argument` for what is not a reference.
 */
export function normalizeName(name: string): string {
  return normalizeReference(name);
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
  return familiarString(normalizeName(name));
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
