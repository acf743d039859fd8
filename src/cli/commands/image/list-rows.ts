/**
 * The rows of `berth images`: one per image record, as docker's JSON
 * object (what `--format json` prints and templates see) and its table,
 * and docker's `--filter`s. Pure: summaries in, rows out.
 */
import { CliError } from '../../errors.js';
import {
  goTimeString,
  humanSize,
  type TableSpec,
  timeAgo,
  truncateId,
} from '../../format/index.js';
import type { ImageSummary } from './catalog.js';
import { isDangling, matchesReference, NONE, repoTag } from './names.js';

/** docker's image list fields (`docker images --format json`). */
export interface ImageRow {
  Containers: string;
  CreatedAt: string;
  CreatedSince: string;
  Digest: string;
  ID: string;
  Repository: string;
  SharedSize: string;
  Size: string;
  Tag: string;
  UniqueSize: string;
  VirtualSize: string;
}

export function rowOf(s: ImageSummary, opts: { noTrunc: boolean }, now: Date): ImageRow {
  const { repository, tag } = repoTag(s.record.name);
  const size = humanSize(s.size);
  return {
    Containers: 'N/A',
    CreatedAt: goTimeString(s.created),
    CreatedSince: timeAgo(s.created, now),
    Digest: s.record.target.digest || NONE,
    ID: opts.noTrunc ? s.id : truncateId(s.id),
    Repository: repository,
    SharedSize: 'N/A',
    Size: size,
    Tag: tag,
    UniqueSize: 'N/A',
    VirtualSize: size,
  };
}

/** The default table (docker's columns; DIGEST after TAG with `--digests`) and the `table {{…}}` headers. */
export function imageTable(digests: boolean): TableSpec<ImageRow> {
  return {
    columns: [
      { header: 'REPOSITORY', value: (r) => r.Repository },
      { header: 'TAG', value: (r) => r.Tag },
      ...(digests ? [{ header: 'DIGEST', value: (r: ImageRow) => r.Digest }] : []),
      { header: 'IMAGE ID', value: (r) => r.ID },
      { header: 'CREATED', value: (r) => r.CreatedSince },
      { header: 'SIZE', value: (r) => r.Size },
    ],
    headers: {
      Containers: 'CONTAINERS',
      CreatedAt: 'CREATED AT',
      CreatedSince: 'CREATED',
      Digest: 'DIGEST',
      ID: 'IMAGE ID',
      Repository: 'REPOSITORY',
      SharedSize: 'SHARED SIZE',
      Size: 'SIZE',
      Tag: 'TAG',
      UniqueSize: 'UNIQUE SIZE',
      VirtualSize: 'VIRTUAL SIZE',
    },
  };
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
 * name; a repository without a tag matches its every tag, as docker's
 * REPOSITORY argument), `label` (`key` or `key=value` of the image
 * config's labels), `dangling` (see names.ts), `before`/`since` (created
 * before/after the named image).
 */
export function passes(
  s: ImageSummary,
  filters: ReadonlyMap<string, readonly string[]>,
  createdOf: (ref: string) => Date | undefined,
): boolean {
  const name = s.record.name;
  const refs = filters.get('reference');
  if (
    refs !== undefined &&
    !refs.some((p) => matchesReference(name, p) || matchesReference(name, `${p}:*`))
  ) {
    return false;
  }
  const dangling = filters.get('dangling');
  if (dangling !== undefined) {
    const want = ['true', '1'].includes((dangling[0] as string).toLowerCase());
    if (isDangling(name) !== want) return false;
  }
  const labels = filters.get('label');
  if (labels !== undefined) {
    const have =
      (s.config?.config as { Labels?: Record<string, string> | null } | undefined)?.Labels ?? {};
    for (const l of labels) {
      const i = l.indexOf('=');
      if (i < 0 ? !Object.hasOwn(have, l) : have[l.slice(0, i)] !== l.slice(i + 1)) return false;
    }
  }
  for (const [key, keep] of [
    ['before', (a: Date, b: Date) => a < b],
    ['since', (a: Date, b: Date) => a > b],
  ] as const) {
    for (const ref of filters.get(key) ?? []) {
      const at = createdOf(ref);
      if (at === undefined) throw new CliError(`No such image: ${ref}`);
      if (!keep(s.created, at)) return false;
    }
  }
  return true;
}
