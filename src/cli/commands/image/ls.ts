import { bool, list, str } from '../../args.js';
import type { CommandSpec } from '../../command.js';

/**
 * `berth images`: docker's image list over the daemon's image records. The
 * IMAGE ID is the config digest; SIZE is what the image's blobs take in
 * the content store (compressed layers), not the unpacked size.
 */
export const command: CommandSpec = {
  usage: '[OPTIONS] [REPOSITORY[:TAG]]',
  summary: 'List images',
  flags: [
    {
      name: 'all',
      short: 'a',
      type: 'bool',
      help: 'show all images (berth has no intermediate images: the same list)',
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
    const { imageTable, parseImageFilters, passes, rowOf } = await import('./list-rows.js');
    const { formatList } = await import('./output.js');
    const { normalizeOrUndefined, shortId } = await import('./names.js');
    const filters = parseImageFilters(list(flags, 'filter'));
    if (args[0] !== undefined) {
      filters.set('reference', [...(filters.get('reference') ?? []), args[0]]);
    }
    const client = await ctx.client();
    const all = await listSummaries(client);
    const createdOf = (ref: string) => {
      const full = normalizeOrUndefined(ref);
      const hex = ref.replace(/^sha256:/, '');
      return (
        all.find((s) => s.record.name === full || s.record.name === ref) ??
        all.find((s) => /^[0-9a-f]+$/.test(hex) && s.id.startsWith(`sha256:${hex}`))
      )?.created;
    };
    const shown = all.filter((s) => passes(s, filters, createdOf));
    const noTrunc = bool(flags, 'no-trunc');
    if (bool(flags, 'quiet')) {
      ctx.out(shown.map((s) => `${noTrunc ? s.id : shortId(s.id)}\n`).join(''));
      return 0;
    }
    const now = new Date();
    const rows = shown.map((s) => rowOf(s, { noTrunc }, now));
    ctx.out(formatList(str(flags, 'format'), rows, imageTable(bool(flags, 'digests'))));
    return 0;
  },
};
