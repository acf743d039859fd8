import type { CommandSpec } from '../../command.js';
import { errorLine } from '../../errors.js';

/**
 * `berth namespace rm NAME...`: nerdctl's; prints each name removed. The
 * daemon refuses a namespace that still holds containers, images, … (the
 * error says which); the others are still removed, and berth exits 125.
 */
export const command: CommandSpec = {
  usage: 'NAMESPACE [NAMESPACE...]',
  summary: 'Remove one or more namespaces',
  flags: [],
  minArgs: 1,
  async run(ctx, { args }) {
    const client = await ctx.client();
    let failed = false;
    for (const name of args) {
      try {
        await client.namespaces.delete(name);
        ctx.out(`${name}\n`);
      } catch (err) {
        failed = true;
        ctx.io.stderr.write(`berth: namespace ${name}: ${errorLine(err)}\n`);
      }
    }
    return failed ? 125 : 0;
  },
};
