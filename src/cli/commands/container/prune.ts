import { bool, list } from '../../args.js';
import type { CommandSpec } from '../../command.js';

/** `berth container prune`: removes every container whose task is not running (docker's "stopped"). */
export const command: CommandSpec = {
  usage: '[OPTIONS]',
  summary: 'Remove all stopped containers',
  flags: [
    { name: 'filter', type: 'list', help: "Provide filter values (e.g. 'label=<key>=<value>')" },
    { name: 'force', short: 'f', type: 'bool', help: 'Do not prompt for confirmation' },
  ],
  maxArgs: 0,
  async run(ctx, { flags }) {
    if (!bool(flags, 'force')) {
      const { confirm } = await import('../../container/confirm.js');
      const ok = await confirm(
        ctx,
        'WARNING! This will remove all stopped containers.\nAre you sure you want to continue?',
      );
      if (!ok) return 0;
    }
    const { pruneContainers } = await import('../../container/prune.js');
    const { humanSize } = await import('../../format/index.js');
    const { deleted, reclaimed } = await pruneContainers(ctx, list(flags, 'filter'));
    if (deleted.length > 0)
      ctx.out(`Deleted Containers:\n${deleted.map((id) => `${id}\n`).join('')}\n`);
    ctx.out(`Total reclaimed space: ${humanSize(reclaimed)}\n`);
    return 0;
  },
};
