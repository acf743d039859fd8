import { bool, str } from '../../args.js';
import type { CommandSpec } from '../../command.js';
import { CliError } from '../../errors.js';
import { familiar } from './names.js';
import { progressMode } from './registry-opts.js';

/**
 * `berth pull`: docker's pull. The daemon pulls and unpacks (its Transfer
 * service; a client-side pull when it has none); progress goes to stderr,
 * and stdout gets docker's closing lines and the full reference.
 */
export const command: CommandSpec = {
  usage: '[OPTIONS] NAME[:TAG|@DIGEST]',
  summary: 'Download an image from a registry',
  flags: [
    { name: 'platform', type: 'string', help: 'the platform to pull (os[/arch[/variant]])' },
    { name: 'all-platforms', type: 'bool', help: 'pull every platform of the image' },
    { name: 'quiet', short: 'q', type: 'bool', help: 'print only the reference' },
    {
      name: 'progress',
      type: 'string',
      help: 'progress on stderr: auto, tty, plain, json or quiet',
      default: 'auto',
    },
  ],
  minArgs: 1,
  maxArgs: 1,
  async run(ctx, { flags, args }) {
    const { normalizeReference, parseReference } = await import('../../../core/reference/index.js');
    const arg = args[0] as string;
    let name: string;
    try {
      name = normalizeReference(arg);
    } catch (err) {
      throw new CliError((err as Error).message);
    }
    const quiet = bool(flags, 'quiet');
    const mode = progressMode(str(flags, 'progress'), quiet);
    const parsed = parseReference(arg);
    if (!quiet && parsed.tag === undefined && parsed.digest === undefined) {
      ctx.out('Using default tag: latest\n');
    }
    const client = await ctx.client();
    const { dockerConfigCredentials } = await import('../../../remotes/index.js');
    const { dockerConfigDirOf, pullImage, progressOn } = await import('./registry-opts.js');
    const before = await client
      .imageService()
      .get(client.context(), name)
      .catch(() => undefined);
    const progress = await progressOn(ctx, mode);
    const platform = str(flags, 'platform');
    let image: Awaited<ReturnType<typeof pullImage>>;
    try {
      image = await pullImage(client, name, {
        unpack: true,
        hostsDir: ctx.globals.hostsDir,
        credentials: dockerConfigCredentials(await dockerConfigDirOf(ctx)),
        ...(platform !== undefined && { platform }),
        ...(bool(flags, 'all-platforms') && { allPlatforms: true }),
        onProgress: progress.onProgress,
      });
    } catch (err) {
      progress.fail(err);
      throw err;
    }
    progress.done();
    if (!quiet) {
      const same = before !== undefined && before.target.digest === image.target.digest;
      ctx.out(`Digest: ${image.target.digest}\n`);
      ctx.out(
        same
          ? `Status: Image is up to date for ${familiar(name)}\n`
          : `Status: Downloaded newer image for ${familiar(name)}\n`,
      );
    }
    ctx.out(`${name}\n`);
    return 0;
  },
};
