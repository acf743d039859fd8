import { str } from '../../args.js';
import type { CommandSpec } from '../../command.js';

/** `berth kill`: docker's `kill`: a signal (default SIGKILL) to the container's main process. */
export const command: CommandSpec = {
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  summary: 'Kill one or more running containers',
  flags: [
    {
      name: 'signal',
      short: 's',
      type: 'string',
      help: 'signal to send to the container',
      default: 'KILL',
    },
  ],
  minArgs: 1,
  async run(ctx, { flags, args }) {
    const { checkSignal } = await import('../../container/options.js');
    const signal = checkSignal(str(flags, 'signal') ?? 'KILL');
    const { findContainer } = await import('../../lookup.js');
    const { killContainer } = await import('../../container/lifecycle.js');
    const client = await ctx.client();
    const { forEachContainer } = await import('../../container/each.js');
    return forEachContainer(ctx, args, async (ref) => {
      await killContainer(client, await findContainer(client, ref), signal);
    });
  },
};
