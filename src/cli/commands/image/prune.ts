import { bool, list } from '../../args.js';
import type { CommandSpec } from '../../command.js';
import { CliError } from '../../errors.js';

/**
 * `berth image prune`: removes dangling images (no tag, see names.ts), or
 * with `-a` every image no container was made from; asks first unless
 * `-f`. Prints docker's list and `Total reclaimed space` (the blobs no
 * remaining image shares).
 */
export const command: CommandSpec = {
  usage: '[OPTIONS]',
  summary: 'Remove unused images',
  flags: [
    {
      name: 'all',
      short: 'a',
      type: 'bool',
      help: 'remove all unused images, not just dangling ones',
    },
    { name: 'force', short: 'f', type: 'bool', help: 'do not prompt for confirmation' },
    { name: 'filter', type: 'list', value: 'filter', help: 'filter: label=<key>[=<value>]' },
  ],
  maxArgs: 0,
  async run(ctx, { flags }) {
    const all = bool(flags, 'all');
    if (!bool(flags, 'force')) {
      if (ctx.io.stdin.isTTY !== true) {
        throw new CliError('image prune asks for confirmation: use -f to remove without a prompt');
      }
      const warning = all
        ? 'WARNING! This will remove all images without at least one container associated to them.'
        : 'WARNING! This will remove all dangling images.';
      const { createInterface } = await import('node:readline');
      const rl = createInterface({ input: ctx.io.stdin, output: ctx.io.stderr });
      const answer = await new Promise<string>((res) =>
        rl.question(`${warning}\nAre you sure you want to continue? [y/N] `, res),
      );
      rl.close();
      if (!/^y(es)?$/i.test(answer.trim())) return 0;
    }
    const { containersByImage, listSummaries } = await import('./catalog.js');
    const { parseImageFilters, passes } = await import('./list-rows.js');
    const { prunePlan } = await import('./prune-plan.js');
    const { familiar } = await import('./names.js');
    const { humanSize } = await import('../../format/index.js');
    const filters = parseImageFilters(list(flags, 'filter'));
    const client = await ctx.client();
    const used = new Set((await containersByImage(client)).keys());
    const summaries = (await listSummaries(client)).filter((s) =>
      passes(s, filters, () => undefined),
    );
    const candidates = await Promise.all(
      summaries.map(async (s) => {
        const blobs = new Map<string, number>([[s.record.target.digest, s.record.target.size]]);
        const m = await s.image.manifest().catch(() => undefined);
        for (const d of m === undefined ? [] : [m.config, ...m.layers]) blobs.set(d.digest, d.size);
        return { name: s.record.name, id: s.id, blobs };
      }),
    );
    const { remove, reclaimed } = prunePlan(candidates, used, all);
    let text = '';
    const removed = new Set(remove.map((c) => c.name));
    const left = new Set(candidates.filter((c) => !removed.has(c.name)).map((c) => c.id));
    for (const [i, c] of remove.entries()) {
      await client
        .imageService()
        .delete(client.context(), c.name, { sync: i === remove.length - 1 });
      text += `untagged: ${familiar(c.name)}\n`;
      // An ID is deleted with its last name (docker's lines), unless a name of it stays.
      const last = !remove.slice(i + 1).some((o) => o.id === c.id);
      if (last && !left.has(c.id)) text += `deleted: ${c.id}\n`;
    }
    if (text !== '') ctx.out(`Deleted Images:\n${text}\n`);
    ctx.out(`Total reclaimed space: ${humanSize(reclaimed)}\n`);
    return 0;
  },
};
