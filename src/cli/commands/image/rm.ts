import { bool } from '../../args.js';
import type { CommandSpec } from '../../command.js';
import { CliError, errorLine } from '../../errors.js';

/**
 * `berth rmi`: removes image records by name (one tag), or by ID or ID
 * prefix (every name of that image, with `-f` when there are several).
 * An image a container was made from is refused without `-f`, with
 * docker's conflict message. Prints `Untagged: …` per name and
 * `Deleted: <ID>` once no name is left; the daemon's garbage collector
 * frees the blobs and snapshots.
 */
export const command: CommandSpec = {
  usage: '[OPTIONS] IMAGE [IMAGE...]',
  summary: 'Remove one or more images',
  flags: [
    { name: 'force', short: 'f', type: 'bool', help: 'force removal of the image' },
    {
      name: 'no-prune',
      type: 'bool',
      help: 'do not delete untagged parents (accepted; berth keeps none)',
    },
  ],
  minArgs: 1,
  async run(ctx, { flags, args }) {
    const { containersByImage, listSummaries, resolveImage } = await import('./catalog.js');
    const { familiar, shortId } = await import('./names.js');
    const client = await ctx.client();
    const force = bool(flags, 'force');
    const users = await containersByImage(client);
    let all = await listSummaries(client);
    const errors: string[] = [];
    for (const arg of args) {
      try {
        const r = await resolveImage(client, arg, all);
        if (r.by === 'id' && r.summaries.length > 1 && !force) {
          throw new CliError(
            `conflict: unable to delete ${shortId(r.id)} (must be forced) - image is referenced in multiple repositories`,
          );
        }
        if (!force) {
          for (const s of r.summaries) {
            const c = users.get(s.record.name)?.[0];
            if (c === undefined) continue;
            throw new CliError(
              r.by === 'name'
                ? `conflict: unable to remove repository reference "${arg}" (must force) - container ${c.slice(0, 12)} is using its referenced image ${shortId(r.id)}`
                : `conflict: unable to delete ${shortId(r.id)} (must be forced) - image is being used by container ${c.slice(0, 12)}`,
            );
          }
        }
        for (const s of r.summaries) {
          await client.imageService().delete(client.context(), s.record.name);
          ctx.out(`Untagged: ${familiar(s.record.name)}\n`);
        }
        const gone = new Set(r.summaries.map((s) => s.record.name));
        all = all.filter((s) => !gone.has(s.record.name));
        if (!all.some((s) => s.id === r.id)) ctx.out(`Deleted: ${r.id}\n`);
      } catch (err) {
        errors.push(errorLine(err));
      }
    }
    if (errors.length > 0) {
      for (const e of errors.slice(0, -1)) ctx.io.stderr.write(`berth: ${e}\n`);
      throw new CliError(errors[errors.length - 1] as string);
    }
    return 0;
  },
};
