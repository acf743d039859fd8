/**
 * @module
 * How containerd's CRI plugin names images: the references a pull records
 * (tag, repo digest, image ID), how they split into `repo_tags` and
 * `repo_digests`, their order, the uid/username an image config's `User`
 * gives, and image ID lookup by prefix (the Docker digest set's rules).
 */
import { failedPrecondition, invalidArgument, notFound } from '../../core/errdefs/index.js';
import {
  normalizeReference,
  parseReference,
  type Reference,
  referenceName,
  referenceString,
} from '../../core/reference/index.js';

/** containerd's label on every image record the CRI plugin manages. */
export const IMAGE_LABEL_KEY = 'io.cri-containerd.image';
export const IMAGE_LABEL_VALUE = 'managed';
/** containerd 1.7's label on the sandbox image's records (kubelet does not collect a pinned image). */
export const PINNED_LABEL_KEY = 'io.cri-containerd.pinned';
export const PINNED_LABEL_VALUE = 'pinned';

const DIGEST_RE = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-f0-9]{32,}$/;
const HEX_RE = /^[a-f0-9]+$/;

/** Whether `s` is a whole digest (`sha256:<hex>`): an image ID, not a name. */
export function isDigest(s: string): boolean {
  return DIGEST_RE.test(s) && (!s.startsWith('sha256:') || s.length === 71);
}

/**
 * The references a pull of `ref` records besides the image ID, as
 * containerd's getRepoDigestAndTag: the tag reference (when `ref` has a
 * tag) and the repo digest (`ref` itself when it has a digest, else
 * `<repository>@<manifest digest>`).
 */
export function repoDigestAndTag(
  normalizedRef: string,
  targetDigest: string,
): { repoTag: string; repoDigest: string } {
  const r = parseReference(normalizedRef);
  if (r.digest !== undefined) return { repoTag: '', repoDigest: normalizedRef };
  return {
    repoTag: r.tag !== undefined ? normalizedRef : '',
    repoDigest: `${referenceName(r)}@${targetDigest}`,
  };
}

/** A reference as containerd's ParseAnyReference reads it; undefined for what is not one. */
function parseAny(ref: string): { kind: 'id' } | { kind: 'named'; r: Reference } | undefined {
  if (isDigest(ref) || (ref.length === 64 && HEX_RE.test(ref))) return { kind: 'id' };
  try {
    return { kind: 'named', r: parseReference(ref) };
  } catch {
    return undefined;
  }
}

/**
 * Splits an image's references into `repo_tags` and `repo_digests`
 * (containerd's parseImageReferences): names with a digest are repo
 * digests, names with only a tag are repo tags; IDs and bare names are
 * neither.
 */
export function splitReferences(refs: readonly string[]): {
  repoTags: string[];
  repoDigests: string[];
} {
  const repoTags: string[] = [];
  const repoDigests: string[] = [];
  for (const ref of refs) {
    const p = parseAny(ref);
    if (p?.kind !== 'named') continue;
    if (p.r.digest !== undefined) repoDigests.push(referenceString(p.r));
    else if (p.r.tag !== undefined) repoTags.push(referenceString(p.r));
  }
  return { repoTags, repoDigests };
}

/** 1 name+tag+digest, 2 name+tag, 3 name+digest, 4 name, 5 ID, 6 not a reference. */
function rank(ref: string): number {
  const p = parseAny(ref);
  if (p === undefined) return 6;
  if (p.kind === 'id') return 5;
  if (p.r.tag !== undefined) return p.r.digest !== undefined ? 1 : 2;
  return p.r.digest !== undefined ? 3 : 4;
}

/** References most informative first, then by name (containerd's reference Sort). */
export function sortReferences(refs: readonly string[]): string[] {
  return [...refs].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * The uid or username of an image config's `User` (`uid`, `name`,
 * `uid:gid`, `name:group`): a number is a uid, anything else a username
 * (containerd's getUserFromImage).
 */
export function userFromImage(user: string | undefined): { uid?: bigint; username: string } {
  if (user === undefined || user === '') return { username: '' };
  const name = user.split(':')[0] ?? '';
  if (/^-?\d+$/.test(name)) {
    const uid = BigInt(name);
    if (uid >= -(2n ** 63n) && uid < 2n ** 63n) return { uid, username: '' };
  }
  return { username: name };
}

/**
 * The one ID of `ids` that `s` names: the whole ID, or a prefix of its hex
 * part with or without `sha256:`. `not_found` when none matches;
 * `failed_precondition` when the prefix is ambiguous.
 */
export function lookupId(ids: Iterable<string>, s: string): string {
  if (s === '') throw notFound('image ""');
  const colon = s.indexOf(':');
  const alg = colon < 0 ? '' : s.slice(0, colon);
  const hex = colon < 0 ? s : s.slice(colon + 1);
  if (!HEX_RE.test(hex)) throw notFound(`image ${JSON.stringify(s)}`);
  let found: string | undefined;
  for (const id of ids) {
    const i = id.indexOf(':');
    if (alg !== '' && id.slice(0, i) !== alg) continue;
    const idHex = id.slice(i + 1);
    if (idHex === hex) return id;
    if (!idHex.startsWith(hex)) continue;
    if (found !== undefined) {
      throw failedPrecondition(`image ID prefix ${JSON.stringify(s)} is ambiguous`);
    }
    found = id;
  }
  if (found === undefined) throw notFound(`image ${JSON.stringify(s)}`);
  return found;
}

/** containerd's ParseDockerRef for a pull: `invalid_argument` naming the reference. */
export function normalizePullRef(ref: string): string {
  try {
    return normalizeReference(ref);
  } catch (err) {
    throw invalidArgument(
      `failed to parse image reference ${JSON.stringify(ref)}: ${(err as Error).message}`,
      { cause: err },
    );
  }
}
