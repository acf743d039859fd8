import type { CommandSpec } from '../../command.js';
import { CliError, errorLine } from '../../errors.js';

/**
 * `berth wait`: blocks until each container's task has stopped, then prints
 * its exit code, one line per container in argument order. A container
 * that cannot be waited for is reported on stderr; the others still are.
 */
export const command: CommandSpec = {
  usage: 'CONTAINER [CONTAINER...]',
  summary: 'Block until one or more containers stop, then print their exit codes',
  flags: [],
  minArgs: 1,
  async run(ctx, { args }) {
    const [{ findContainer }, { isNotFound }] = await Promise.all([
      import('../../lookup.js'),
      import('../../../client/index.js'),
    ]);
    const client = await ctx.client();
    // Every Wait is sent before the first is printed: none misses an exit.
    const waits = args.map(async (ref) => {
      const record = await findContainer(client, ref);
      const container = await client.loadContainer(record.id);
      const task = await container.task().catch((err: unknown) => {
        if (isNotFound(err))
          throw new CliError(`container ${ref} has no task: it was never started`);
        throw err;
      });
      return (await task.wait()).exitCode;
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
