import { bool, list } from '../../args.js';
import type { CommandSpec } from '../../command.js';

/**
 * `berth system prune`: stopped containers, then dangling images (with
 * `-a`, every image no container uses; image/prune.ts, as `image prune`),
 * both narrowed by the same `label=` filters, as docker's; then what was
 * reclaimed. berth has
 * no build cache, and its networks are CNI configs it keeps.
 */
export const command: CommandSpec = {
  usage: '[OPTIONS]',
  summary: 'Remove unused data',
  flags: [
    {
      name: 'all',
      short: 'a',
      type: 'bool',
      help: 'Remove all unused images not just dangling ones',
    },
    { name: 'filter', type: 'list', help: "Provide filter values (e.g. 'label=<key>=<value>')" },
    { name: 'force', short: 'f', type: 'bool', help: 'Do not prompt for confirmation' },
  ],
  maxArgs: 0,
  async run(ctx, { flags }) {
    const all = bool(flags, 'all');
    if (!bool(flags, 'force')) {
      const { confirm } = await import('../../container/confirm.js');
      const images = all
        ? 'all images without at least one container associated to them'
        : 'all dangling images';
      const ok = await confirm(
        ctx,
        `WARNING! This will remove:\n  - all stopped containers\n  - ${images}\n\nAre you sure you want to continue?`,
      );
      if (!ok) return 0;
    }
    const [{ pruneContainers }, { pruneImages }, { parseImageFilters }, { humanSize }] =
      await Promise.all([
        import('../../container/prune.js'),
        import('../../image/prune.js'),
        import('../../image/list-rows.js'),
        import('../../format/index.js'),
      ]);
    const filters = list(flags, 'filter');
    const containers = await pruneContainers(ctx, filters);
    if (containers.deleted.length > 0) {
      ctx.out(`Deleted Containers:\n${containers.deleted.map((id) => `${id}\n`).join('')}\n`);
    }
    // The same label filters as the containers' (pruneContainers took label= only).
    const images = await pruneImages(await ctx.client(), all, parseImageFilters(filters));
    if (images.lines.length > 0) {
      ctx.out(`Deleted Images:\n${images.lines.map((l) => `${l}\n`).join('')}\n`);
    }
    ctx.out(`Total reclaimed space: ${humanSize(containers.reclaimed + images.reclaimed)}\n`);
    return 0;
  },
};
