/** docker's `image inspect` object, from berth's image summaries. Pure. */
import type { ImageSummary } from './catalog.js';
import { NONE, repoTag } from './names.js';

const CONFIG_FIELDS = [
  'User',
  'ExposedPorts',
  'Env',
  'Cmd',
  'Volumes',
  'WorkingDir',
  'Entrypoint',
  'Labels',
  'StopSignal',
] as const;

/**
 * The inspect object of an image ID: `same` are every record of that ID
 * (their names give RepoTags and RepoDigests), `s` the one asked for.
 */
export function inspectObject(
  s: ImageSummary,
  same: readonly ImageSummary[],
): Record<string, unknown> {
  const repoTags: string[] = [];
  const repoDigests: string[] = [];
  for (const o of same) {
    const { repository, tag } = repoTag(o.record.name);
    if (tag !== NONE && !repoTags.includes(`${repository}:${tag}`))
      repoTags.push(`${repository}:${tag}`);
    const d = `${repository}@${o.record.target.digest}`;
    if (repository !== o.record.name && !repoDigests.includes(d)) repoDigests.push(d);
  }
  const cfg = (s.config?.config ?? {}) as Record<string, unknown>;
  const config: Record<string, unknown> = {};
  for (const f of CONFIG_FIELDS) {
    config[f] = cfg[f] ?? (f === 'User' || f === 'WorkingDir' ? '' : null);
  }
  for (const [k, v] of Object.entries(cfg)) if (!(k in config)) config[k] = v;
  return {
    Id: s.id,
    RepoTags: repoTags,
    RepoDigests: repoDigests,
    Parent: '',
    Comment: '',
    // The config's own text (RFC 3339, as docker shows it), else the time berth knows.
    Created: s.config?.created ?? s.created.toISOString().replace(/\.000Z$/, 'Z'),
    Author: typeof s.config?.author === 'string' ? s.config.author : '',
    Config: config,
    Architecture: s.config?.architecture ?? '',
    ...(s.config?.variant !== undefined && { Variant: s.config.variant }),
    Os: s.config?.os ?? '',
    Size: s.size,
    RootFS: { Type: s.config?.rootfs.type ?? 'layers', Layers: s.config?.rootfs.diff_ids ?? [] },
    Metadata: { LastTagTime: new Date(Number(s.record.updatedAt / 1_000_000n)).toISOString() },
    Descriptor: s.record.target,
  };
}
