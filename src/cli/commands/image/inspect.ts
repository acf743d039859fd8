import { str } from '../../args.js';
import type { CommandSpec } from '../../command.js';
import { CliError, errorLine } from '../../errors.js';

/** `berth image inspect`: docker's JSON array of image objects, or a template per image. */
export const command: CommandSpec = {
  usage: '[OPTIONS] IMAGE [IMAGE...]',
  summary: 'Display detailed information on one or more images',
  flags: [
    {
      name: 'format',
      short: 'f',
      type: 'string',
      help: "format output: 'json' or a Go template",
    },
  ],
  minArgs: 1,
  async run(ctx, { flags, args }) {
    const { listSummaries, resolveImage } = await import('./catalog.js');
    const { inspectObject } = await import('./inspect-json.js');
    const { formatInspect } = await import('./output.js');
    const client = await ctx.client();
    const all = await listSummaries(client);
    const objects: Record<string, unknown>[] = [];
    const errors: string[] = [];
    for (const arg of args) {
      try {
        const r = await resolveImage(client, arg, all);
        const s = r.summaries[0];
        if (s === undefined) throw new CliError(`No such image: ${arg}`);
        objects.push(
          inspectObject(
            s,
            all.filter((o) => o.id === r.id),
          ),
        );
      } catch (err) {
        errors.push(errorLine(err));
      }
    }
    // docker prints what it found (`[]` for nothing) before the errors.
    ctx.out(formatInspect(str(flags, 'format'), objects));
    if (errors.length > 0) {
      for (const e of errors.slice(0, -1)) ctx.io.stderr.write(`berth: ${e}\n`);
      throw new CliError(errors[errors.length - 1] as string);
    }
    return 0;
  },
};
