/**
 * How berth names images as docker does, over containerd's model: an image
 * record is a name (a full reference, `docker.io/library/busybox:latest`)
 * pointing at a manifest or index. Pure functions, no client.
 */
import { familiarName, normalizeReference, parseReference } from '../../../core/reference/index.js';

/** docker's placeholder for a missing repository or tag. */
export const NONE = '<none>';

/** The REPOSITORY and TAG columns of a record name: `busybox`, `latest`; `<none>` for what is missing. */
export function repoTag(name: string): { repository: string; tag: string; digest?: string } {
  try {
    const ref = parseReference(name);
    return {
      repository: familiarName(name),
      tag: ref.tag ?? NONE,
      ...(ref.digest !== undefined && { digest: ref.digest }),
    };
  } catch {
    // Not a reference (an archive's index name, a bare digest): shown whole.
    return { repository: name, tag: NONE };
  }
}

/**
 * Dangling, in containerd's model: every image record has a name, so there
 * are no nameless images as in docker; berth calls an image dangling when
 * its record carries no tag — a name by digest only (`repo@sha256:…`, what
 * `load`/`pull` by digest leave) or a name that is not a reference at all
 * (an archive's bare digest or index name). Such images are what
 * `image prune` removes without `-a`, and `images` shows their TAG as `<none>`.
 */
export function isDangling(name: string): boolean {
  return repoTag(name).tag === NONE;
}

/** The full name a user's reference means (`busybox` → `docker.io/library/busybox:latest`); undefined when it is not a reference. */
export function normalizeOrUndefined(ref: string): string | undefined {
  try {
    return normalizeReference(ref);
  } catch {
    return undefined;
  }
}

/** docker's short image ID: the config digest's first 12 hex digits. */
export function shortId(id: string): string {
  return id.replace(/^sha256:/, '').slice(0, 12);
}

/** Whether `arg` can be an image ID or a prefix of one (`sha256:` optional). */
export function isIdPrefix(arg: string): boolean {
  return /^(sha256:)?[0-9a-f]{1,64}$/.test(arg);
}

/** Whether an image ID (`sha256:<hex>`) starts with the ID or prefix `arg`. */
export function idMatches(id: string, arg: string): boolean {
  const hex = arg.replace(/^sha256:/, '');
  return id.startsWith(`sha256:${hex}`);
}

/** The name shown for a record name: the familiar reference (`busybox:latest`), or the name as is. */
export function familiar(name: string): string {
  const { repository, tag, digest } = repoTag(name);
  if (repository === name) return name;
  return `${repository}${tag !== NONE ? `:${tag}` : ''}${digest !== undefined ? `@${digest}` : ''}`;
}

/**
 * `reference=` filter of docker: a pattern (`*` within a path component,
 * `**` across) matched against the familiar `repo:tag` and the repository
 * alone (`busybox`, `busybox:*`, `127.0.0.1:5000/*`).
 */
export function matchesReference(name: string, pattern: string): boolean {
  const { repository, tag } = repoTag(name);
  const re = new RegExp(
    `^${pattern
      .split(/(\*\*|\*|\?)/)
      .map((p) =>
        p === '**'
          ? '.*'
          : p === '*'
            ? '[^/]*'
            : p === '?'
              ? '[^/]'
              : p.replace(/[.+^${}()|[\]\\]/g, '\\$&'),
      )
      .join('')}$`,
  );
  const forms = [repository, familiar(name), name];
  if (tag !== NONE) forms.push(`${repository}:${tag}`);
  return forms.some((f) => re.test(f));
}
