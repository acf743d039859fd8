import type { CommandSpec } from '../../command.js';
import { errorLine } from '../../errors.js';

/**
 * `berth wait`: blocks until each container's task has stopped, then prints
 * its exit code, one line per container in argument order; a container not
 * started yet is waited for until it has run and stopped (lifecycle.ts's
 * waitExit), as docker does. A container that cannot be waited for is
 * reported on stderr; the others still are.
 */
export const command: CommandSpec = {
  usage: 'CONTAINER [CONTAINER...]',
  summary: 'Block until one or more containers stop, then print their exit codes',
  flags: [],
  minArgs: 1,
  async run(ctx, { args }) {
    const [{ findContainer }, { waitExit }] = await Promise.all([
      import('../../lookup.js'),
      import('../../container/lifecycle.js'),
    ]);
    const client = await ctx.client();
    // Every Wait is sent before the first is printed: none misses an exit.
    const waits = args.map(async (ref) => {
      const record = await findContainer(client, ref);
      return waitExit(client, record.id);
    });
    let failed = false;
    for (const [i, w] of waits.entries()) {
      try {
        ctx.out(`${await w}\n`);
      } catch (err) {
        failed = true;
        ctx.io.stderr.write(`berth: ${args[i]}: ${errorLine(err)}\n`);
      }
    }
    return failed ? 125 : 0;
  },
};
