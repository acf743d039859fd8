import { bool } from '../../args.js';
import type { CommandSpec } from '../../command.js';
import { CREATE_FLAGS, createOptions } from '../../container/options.js';
import { CliError } from '../../errors.js';

/** `berth run`: docker's `run`, detached (`-d`) or attached to this terminal. */
export const command: CommandSpec = {
  usage: '[OPTIONS] IMAGE [COMMAND] [ARG...]',
  summary: 'Create and run a new container from an image',
  flags: [
    {
      name: 'detach',
      short: 'd',
      type: 'bool',
      help: 'run in the background and print the container ID',
    },
    { name: 'rm', type: 'bool', help: 'remove the container when it exits' },
    ...CREATE_FLAGS,
  ],
  stopAtPositional: true,
  minArgs: 1,
  async run(ctx, { flags, args }) {
    const opts = createOptions(flags, args, ctx.env);
    const detach = bool(flags, 'detach');
    const rm = bool(flags, 'rm');
    if (rm && opts.restart.name !== 'no') {
      throw new CliError('Conflicting options: cannot specify both --restart and --rm');
    }
    const { runContainer } = await import('../../container/run.js');
    return runContainer(ctx, opts, { detach, rm });
  },
};
