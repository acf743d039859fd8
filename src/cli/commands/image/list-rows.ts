/**
 * The rows of `berth images`: one per image record, with docker's columns
 * and JSON fields, and docker's `--filter`s. Pure: summaries in, rows out.
 */
import { CliError } from '../../errors.js';
import type { ImageSummary } from './catalog.js';
import { isDangling, matchesReference, NONE, repoTag, shortId } from './names.js';
import { type Column, humanSize, timeAgo } from './output.js';

export interface ImageRow {
  readonly repository: string;
  readonly tag: string;
  /** The digest of what the record points at (manifest or index), docker's DIGEST column. */
  readonly digest: string;
  readonly id: string;
  readonly created: Date;
  readonly size: number;
}

export function rowOf(s: ImageSummary): ImageRow {
  const { repository, tag } = repoTag(s.record.name);
  return {
    repository,
    tag,
    digest: s.record.target.digest,
    id: s.id,
    created: s.created,
    size: s.size,
  };
}

/** The table's columns: docker's, with DIGEST after TAG for `--digests`. */
export function imageColumns(
  opts: { digests: boolean; noTrunc: boolean },
  now: Date,
): Column<ImageRow>[] {
  return [
    { header: 'REPOSITORY', value: (r) => r.repository },
    { header: 'TAG', value: (r) => r.tag },
    ...(opts.digests ? [{ header: 'DIGEST', value: (r: ImageRow) => r.digest }] : []),
    { header: 'IMAGE ID', value: (r) => (opts.noTrunc ? r.id : shortId(r.id)) },
    { header: 'CREATED', value: (r) => timeAgo(r.created, now) },
    { header: 'SIZE', value: (r) => humanSize(r.size) },
  ];
}

/** docker's JSON fields of `images --format json` (and what templates see). */
export function imageJson(
  r: ImageRow,
  opts: { noTrunc: boolean },
  now: Date,
): Record<string, unknown> {
  return {
    Containers: 'N/A',
    CreatedAt: goTime(r.created),
    CreatedSince: timeAgo(r.created, now),
    Digest: r.digest === '' ? NONE : r.digest,
    ID: opts.noTrunc ? r.id : shortId(r.id),
    Repository: r.repository,
    SharedSize: 'N/A',
    Size: humanSize(r.size),
    Tag: r.tag,
    UniqueSize: 'N/A',
    VirtualSize: humanSize(r.size),
  };
}

/** Go's time.Time String form docker prints: `2024-01-01 00:00:00 +0000 UTC`. */
export function goTime(d: Date): string {
  return `${d
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, '')} +0000 UTC`;
}

const FILTER_KEYS = new Set(['reference', 'label', 'dangling', 'before', 'since']);

/** `--filter k=v` flags, by key (docker's repeatable filters: values of one key OR, keys AND). */
export function parseImageFilters(list: readonly string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const f of list) {
    const i = f.indexOf('=');
    if (i <= 0) throw new CliError(`bad format of filter (expected name=value): ${f}`);
    const key = f.slice(0, i).toLowerCase();
    if (!FILTER_KEYS.has(key)) throw new CliError(`invalid filter '${key}'`);
    out.set(key, [...(out.get(key) ?? []), f.slice(i + 1)]);
  }
  for (const v of out.get('dangling') ?? []) {
    if (!['true', 'false', '1', '0'].includes(v.toLowerCase())) {
      throw new CliError(`invalid filter 'dangling=${v}'`);
    }
  }
  return out;
}

/**
 * Whether a summary passes the filters: `reference` (a pattern on the
 * name), `label` (`key` or `key=value` of the image config's labels),
 * `dangling` (see names.ts), `before`/`since` (created before/after the
 * named image).
 */
export function passes(
  s: ImageSummary,
  filters: Map<string, string[]>,
  createdOf: (ref: string) => Date | undefined,
): boolean {
  const name = s.record.name;
  const refs = filters.get('reference');
  if (refs !== undefined && !refs.some((p) => matchesReference(name, p))) return false;
  const dangling = filters.get('dangling');
  if (dangling !== undefined) {
    const want = ['true', '1'].includes((dangling[0] as string).toLowerCase());
    if (isDangling(name) !== want) return false;
  }
  const labels = filters.get('label');
  if (labels !== undefined) {
    const have = ((s.config?.config as { Labels?: Record<string, string> } | undefined)?.Labels ??
      {}) as Record<string, string>;
    for (const l of labels) {
      const i = l.indexOf('=');
      if (i < 0 ? !Object.hasOwn(have, l) : have[l.slice(0, i)] !== l.slice(i + 1)) return false;
    }
  }
  for (const [key, cmp] of [
    ['before', (a: Date, b: Date) => a < b],
    ['since', (a: Date, b: Date) => a > b],
  ] as const) {
    for (const ref of filters.get(key) ?? []) {
      const at = createdOf(ref);
      if (at === undefined) throw new CliError(`No such image: ${ref}`);
      if (!cmp(s.created, at)) return false;
    }
  }
  return true;
}
