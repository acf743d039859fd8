import { str } from '../../args.js';
import type { CommandSpec } from '../../command.js';
import { CliError } from '../../errors.js';

/**
 * `berth inspect NAME|ID...`: containers first, then images (docker's
 * order), or only one kind with `--type`; one JSON array for all.
 */
export const command: CommandSpec = {
  usage: '[OPTIONS] NAME|ID [NAME|ID...]',
  summary: 'Return low-level information on containers or images',
  flags: [
    {
      name: 'format',
      short: 'f',
      type: 'string',
      help: "Format output using a custom template: 'json' or a Go template",
    },
    { name: 'size', short: 's', type: 'bool', help: 'Display total file sizes (not supported)' },
    { name: 'type', type: 'string', help: 'Return JSON for specified type: container or image' },
  ],
  minArgs: 1,
  async run(ctx, { flags, args }) {
    const type = str(flags, 'type') ?? '';
    if (!['', 'container', 'image'].includes(type)) {
      throw new CliError(`"${type}" is not a valid value for --type`);
    }
    const [{ inspectContainers }, { inspectImages }, { formatOutput }] = await Promise.all([
      import('../../container/inspect-data.js'),
      import('../../container/image-data.js'),
      import('../../format/index.js'),
    ]);
    const client = await ctx.client();
    const byRef = new Map<string, Record<string, unknown>>();
    let rest: readonly string[] = args;
    if (type !== 'image') {
      const containers = await inspectContainers(ctx, client, rest);
      for (const [i, ref] of rest.entries()) {
        const obj = containers.byRef[i];
        if (obj !== undefined) byRef.set(ref, obj);
      }
      rest = rest.filter((r) => !byRef.has(r));
    }
    if (type !== 'container' && rest.length > 0) {
      const images = await inspectImages(client, rest);
      for (const [ref, obj] of images) byRef.set(ref, obj);
    }
    const found = args.flatMap((r) =>
      byRef.has(r) ? [byRef.get(r) as Record<string, unknown>] : [],
    );
    const missing = args.filter((r) => !byRef.has(r));
    if (found.length > 0) ctx.out(formatOutput(str(flags, 'format'), 'inspect', found));
    if (missing.length > 0) {
      const what = type === 'container' ? 'container' : type === 'image' ? 'image' : 'object';
      throw new CliError(`No such ${what}: ${missing.join(', ')}`);
    }
    return 0;
  },
};
