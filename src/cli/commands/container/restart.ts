import { int } from '../../args.js';
import type { CommandSpec } from '../../command.js';

/** `berth restart`: docker's `restart`: stop, then start. */
export const command: CommandSpec = {
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  summary: 'Restart one or more containers',
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
    const { startDetached, stopContainer } = await import('../../container/lifecycle.js');
    const client = await ctx.client();
    const timeout = int(flags, 'time');
    const { forEachContainer } = await import('../../container/each.js');
    return forEachContainer(ctx, args, async (ref) => {
      const record = await findContainer(client, ref);
      await stopContainer(client, record, timeout);
      // Read again: stop changed the restart labels start looks at.
      await startDetached(client, await findContainer(client, record.id));
    });
  },
};
