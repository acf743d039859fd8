import { bool } from '../../args.js';
import type { CommandSpec } from '../../command.js';
import { CliError } from '../../errors.js';

/** `berth start`: docker's `start`, detached, or attached to one container with `-a`. */
export const command: CommandSpec = {
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  summary: 'Start one or more stopped containers',
  flags: [
    { name: 'attach', short: 'a', type: 'bool', help: 'attach STDOUT/STDERR and forward signals' },
    { name: 'interactive', short: 'i', type: 'bool', help: "attach the container's STDIN" },
  ],
  minArgs: 1,
  async run(ctx, { flags, args }) {
    const attach = bool(flags, 'attach') || bool(flags, 'interactive');
    if (attach && args.length > 1) {
      throw new CliError('you cannot start and attach multiple containers at once');
    }
    const { findContainer } = await import('../../lookup.js');
    const client = await ctx.client();
    if (attach) {
      const { startAttached } = await import('../../container/start.js');
      const record = await findContainer(client, args[0] as string);
      return startAttached(ctx, client, record, bool(flags, 'interactive'));
    }
    const { startDetached } = await import('../../container/lifecycle.js');
    const { forEachContainer } = await import('../../container/each.js');
    return forEachContainer(ctx, args, async (ref) => {
      await startDetached(client, await findContainer(client, ref));
    });
  },
};
