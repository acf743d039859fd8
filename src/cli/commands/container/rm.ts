import { bool } from '../../args.js';
import type { CommandSpec } from '../../command.js';

/** `berth rm`: docker's `rm`: the task, record, snapshot, state dir and network of each container. */
export const command: CommandSpec = {
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  summary: 'Remove one or more containers',
  flags: [
    {
      name: 'force',
      short: 'f',
      type: 'bool',
      help: 'force the removal of a running container (uses SIGKILL)',
    },
    {
      name: 'volumes',
      short: 'v',
      type: 'bool',
      help: 'remove anonymous volumes (berth makes none)',
    },
  ],
  minArgs: 1,
  async run(ctx, { flags, args }) {
    const { findContainer } = await import('../../lookup.js');
    const { removeContainer } = await import('../../container/lifecycle.js');
    const client = await ctx.client();
    const force = bool(flags, 'force');
    const { forEachContainer } = await import('../../container/each.js');
    return forEachContainer(ctx, args, async (ref) => {
      await removeContainer(ctx, client, await findContainer(client, ref), force);
    });
  },
};
