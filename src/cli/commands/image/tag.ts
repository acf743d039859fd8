import type { CommandSpec } from '../../command.js';
import { CliError } from '../../errors.js';

/**
 * `berth tag SOURCE TARGET`: a new image record named TARGET (normalized,
 * `:latest` by default) pointing at SOURCE's manifest or index; an
 * existing TARGET is moved, as docker moves a tag.
 */
export const command: CommandSpec = {
  usage: 'SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]',
  summary: 'Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE',
  flags: [],
  minArgs: 2,
  maxArgs: 2,
  async run(ctx, { args }) {
    const { resolveImage } = await import('./catalog.js');
    const { normalizeReference } = await import('../../../core/reference/index.js');
    const { isAlreadyExists } = await import('../../../core/errdefs/index.js');
    let target: string;
    try {
      target = normalizeReference(args[1] as string);
    } catch (err) {
      throw new CliError((err as Error).message);
    }
    if (target.includes('@'))
      throw new CliError(`refusing to create a tag with a digest reference: ${args[1]}`);
    const client = await ctx.client();
    const source = (await resolveImage(client, args[0] as string)).summaries[0];
    if (source === undefined) throw new CliError(`No such image: ${args[0]}`);
    const store = client.imageService();
    const record = { name: target, labels: {}, target: source.record.target };
    try {
      await store.create(client.context(), record);
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
      await store.update(client.context(), record, ['target']);
    }
    return 0;
  },
};
