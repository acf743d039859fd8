import { list } from '../../args.js';
import type { CommandSpec } from '../../command.js';
import { CliError } from '../../errors.js';

/** `berth namespace create NAME [--label k=v]`: nerdctl's; prints nothing on success. */
export const command: CommandSpec = {
  usage: '[OPTIONS] NAMESPACE',
  summary: 'Create a new namespace',
  flags: [{ name: 'label', type: 'list', help: 'Set labels for a namespace (key=value)' }],
  minArgs: 1,
  maxArgs: 1,
  async run(ctx, { flags, args }) {
    const labels: Record<string, string> = {};
    for (const l of list(flags, 'label')) {
      const eq = l.indexOf('=');
      if (eq === 0) throw new CliError(`invalid label ${JSON.stringify(l)}: want key=value`);
      if (eq < 0) labels[l] = '';
      else labels[l.slice(0, eq)] = l.slice(eq + 1);
    }
    const client = await ctx.client();
    await client.namespaces.create(args[0] as string, labels);
    return 0;
  },
};
