import { bool, list, str } from '../../args.js';
import type { CommandSpec } from '../../command.js';

/** `berth images`: docker's image list over the daemon's image records. */
export const command: CommandSpec = {
  usage: '[OPTIONS] [REPOSITORY[:TAG]]',
  summary: 'List images',
  flags: [
    {
      name: 'all',
      short: 'a',
      type: 'bool',
      help: 'show all images (every image is shown anyway)',
    },
    { name: 'digests', type: 'bool', help: 'show digests' },
    {
      name: 'filter',
      short: 'f',
      type: 'list',
      value: 'filter',
      help: 'filter output: reference=, label=, dangling=, before=, since=',
    },
    { name: 'format', type: 'string', help: "format output: 'table', 'json' or a Go template" },
    { name: 'no-trunc', type: 'bool', help: "don't truncate output" },
    { name: 'quiet', short: 'q', type: 'bool', help: 'only show image IDs' },
  ],
  maxArgs: 1,
  async run(ctx, { flags, args }) {
    const { listSummaries } = await import('./catalog.js');
    const { imageColumns, imageJson, parseImageFilters, passes, rowOf } = await import(
      './list-rows.js'
    );
    const { formatList } = await import('./output.js');
    const { matchesReference, normalizeOrUndefined, shortId } = await import('./names.js');
    const filters = parseImageFilters(list(flags, 'filter'));
    if (args[0] !== undefined)
      filters.set('reference', [...(filters.get('reference') ?? []), args[0]]);
    const client = await ctx.client();
    const all = await listSummaries(client);
    const createdOf = (ref: string) => {
      const full = normalizeOrUndefined(ref);
      return (
        all.find((s) => s.record.name === full || s.record.name === ref) ??
        all.find((s) => s.id.startsWith(`sha256:${ref.replace(/^sha256:/, '')}`))
      )?.created;
    };
    // A REPOSITORY argument without a tag matches every tag, as docker's.
    const refs = filters.get('reference');
    const shown = all.filter(
      (s) =>
        passes(
          s,
          refs === undefined ? filters : new Map([...filters].filter(([k]) => k !== 'reference')),
          createdOf,
        ) &&
        (refs === undefined ||
          refs.some(
            (p) => matchesReference(s.record.name, p) || matchesReference(s.record.name, `${p}:*`),
          )),
    );
    const noTrunc = bool(flags, 'no-trunc');
    if (bool(flags, 'quiet')) {
      ctx.out(shown.map((s) => `${noTrunc ? s.id : shortId(s.id)}\n`).join(''));
      return 0;
    }
    const now = new Date();
    const rows = shown.map(rowOf);
    ctx.out(
      await formatList(
        str(flags, 'format'),
        imageColumns({ digests: bool(flags, 'digests'), noTrunc }, now),
        rows,
        (r) => imageJson(r, { noTrunc }, now),
      ),
    );
    return 0;
  },
};
