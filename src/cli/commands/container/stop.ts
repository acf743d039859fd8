import { int } from '../../args.js';
import type { CommandSpec } from '../../command.js';

/** `berth stop`: docker's `stop`; berthd's restart monitor is told first. */
export const command: CommandSpec = {
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  summary: 'Stop one or more running containers',
  flags: [
    {
      name: 'time',
      short: 't',
      type: 'int',
      help: 'seconds to wait before killing the container (default 10, or its --stop-timeout)',
    },
  ],
  minArgs: 1,
  async run(ctx, { flags, args }) {
    const { findContainer } = await import('../../lookup.js');
    const { stopContainer } = await import('../../container/lifecycle.js');
    const client = await ctx.client();
    const timeout = int(flags, 'time');
    const { forEachContainer } = await import('../../container/each.js');
    return forEachContainer(ctx, args, async (ref) => {
      await stopContainer(client, await findContainer(client, ref), timeout);
    });
  },
};
