import { str } from '../../args.js';
import type { CommandSpec } from '../../command.js';
import { CliError } from '../../errors.js';

/** `berth container inspect`: docker's JSON array of containers, or a template per container. */
export const command: CommandSpec = {
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  summary: 'Display detailed information on one or more containers',
  flags: [
    {
      name: 'format',
      short: 'f',
      type: 'string',
      help: "Format output using a custom template: 'json' or a Go template",
    },
    { name: 'size', short: 's', type: 'bool', help: 'Display total file sizes (not supported)' },
  ],
  minArgs: 1,
  async run(ctx, { flags, args }) {
    const [{ inspectContainers }, { formatOutput }] = await Promise.all([
      import('../../container/inspect-data.js'),
      import('../../format/index.js'),
    ]);
    const client = await ctx.client();
    const { found, missing } = await inspectContainers(ctx, client, args);
    if (found.length > 0) ctx.out(formatOutput(str(flags, 'format'), 'inspect', found));
    if (missing.length > 0) throw new CliError(`No such container: ${missing.join(', ')}`);
    return 0;
  },
};
