import type { CommandSpec } from '../../command.js';
import { CREATE_FLAGS, createOptions } from '../../container/options.js';

/** `berth create`: docker's `create`: the container, not started; prints its ID. */
export const command: CommandSpec = {
  usage: '[OPTIONS] IMAGE [COMMAND] [ARG...]',
  summary: 'Create a new container',
  flags: CREATE_FLAGS,
  stopAtPositional: true,
  minArgs: 1,
  async run(ctx, { flags, args }) {
    const opts = createOptions(flags, args, ctx.env);
    const { createContainer } = await import('../../container/create.js');
    const client = await ctx.client();
    const created = await createContainer(ctx, client, opts);
    ctx.out(`${created.id}\n`);
    return 0;
  },
};
