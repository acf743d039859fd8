import { bool, list } from '../../args.js';
import type { CommandSpec } from '../../command.js';
import { CliError } from '../../errors.js';

/**
 * `berth image prune`: removes dangling images (no tag, see names.ts), or
 * with `-a` every image no container was made from; asks first unless
 * `-f`. Prints docker's list and `Total reclaimed space` (the blobs no
 * remaining image shares).
 */
export const command: CommandSpec = {
  usage: '[OPTIONS]',
  summary: 'Remove unused images',
  flags: [
    {
      name: 'all',
      short: 'a',
      type: 'bool',
      help: 'remove all unused images, not just dangling ones',
    },
    { name: 'force', short: 'f', type: 'bool', help: 'do not prompt for confirmation' },
    { name: 'filter', type: 'list', value: 'filter', help: 'filter: label=<key>[=<value>]' },
  ],
  maxArgs: 0,
  async run(ctx, { flags }) {
    const all = bool(flags, 'all');
    if (!bool(flags, 'force')) {
      if (ctx.io.stdin.isTTY !== true) {
        throw new CliError('image prune asks for confirmation: use -f to remove without a prompt');
      }
      const warning = all
        ? 'WARNING! This will remove all images without at least one container associated to them.'
        : 'WARNING! This will remove all dangling images.';
      const { createInterface } = await import('node:readline');
      const rl = createInterface({ input: ctx.io.stdin, output: ctx.io.stderr });
      const answer = await new Promise<string>((res) =>
        rl.question(`${warning}\nAre you sure you want to continue? [y/N] `, res),
      );
      rl.close();
      if (!/^y(es)?$/i.test(answer.trim())) return 0;
    }
    const { parseImageFilters } = await import('../../image/list-rows.js');
    const { pruneImages } = await import('../../image/prune.js');
    const { humanSize } = await import('../../format/index.js');
    const filters = parseImageFilters(list(flags, 'filter'));
    const { lines, reclaimed } = await pruneImages(await ctx.client(), all, filters);
    if (lines.length > 0) ctx.out(`Deleted Images:\n${lines.map((l) => `${l}\n`).join('')}\n`);
    ctx.out(`Total reclaimed space: ${humanSize(reclaimed)}\n`);
    return 0;
  },
};
