import { bool, list } from '../../args.js';
import type { CommandSpec } from '../../command.js';

/**
 * `berth system prune`: stopped containers, then dangling images (with
 * `-a`, every image no container uses), then what was reclaimed. berth has
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
    const [{ pruneContainers }, { pruneImages }, { humanSize }] = await Promise.all([
      import('../../container/prune.js'),
      import('../../container/image-prune.js'),
      import('../../format/index.js'),
    ]);
    const containers = await pruneContainers(ctx, list(flags, 'filter'));
    if (containers.deleted.length > 0) {
      ctx.out(`Deleted Containers:\n${containers.deleted.map((id) => `${id}\n`).join('')}\n`);
    }
    const images = await pruneImages(await ctx.client(), all);
    if (images.deleted.length > 0) {
      ctx.out(`Deleted Images:\n${images.deleted.map((n) => `untagged: ${n}\n`).join('')}\n`);
    }
    ctx.out(`Total reclaimed space: ${humanSize(containers.reclaimed + images.reclaimed)}\n`);
    return 0;
  },
};
