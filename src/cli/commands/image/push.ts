import { bool, str } from '../../args.js';
import type { CommandSpec } from '../../command.js';
import { CliError } from '../../errors.js';
import { progressMode } from './registry-opts.js';

/**
 * `berth push`: docker's push, run from this process (hosts.toml from
 * `--hosts-dir`, credentials from Docker's config.json). Progress on
 * stderr; stdout gets docker's closing line `<tag>: digest: <d> size: <n>`.
 */
export const command: CommandSpec = {
  usage: '[OPTIONS] NAME[:TAG]',
  summary: 'Upload an image to a registry',
  flags: [
    { name: 'platform', type: 'string', help: 'push only this platform of a multi-platform image' },
    { name: 'all-tags', short: 'a', type: 'bool', help: 'push every tag of the repository' },
    { name: 'quiet', short: 'q', type: 'bool', help: 'print nothing but errors' },
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
    const { normalizeReference, parseReference, referenceName } = await import(
      '../../../core/reference/index.js'
    );
    const arg = args[0] as string;
    const quiet = bool(flags, 'quiet');
    const mode = progressMode(str(flags, 'progress'), quiet);
    let names: string[];
    const client = await ctx.client();
    try {
      if (bool(flags, 'all-tags')) {
        const ref = parseReference(arg);
        if (ref.tag !== undefined || ref.digest !== undefined) {
          throw new CliError("tag can't be used with --all-tags/-a");
        }
        const repo = referenceName(ref);
        const records = await client.imageService().list(client.context());
        names = records
          .map((r) => r.name)
          .filter((n) => n.startsWith(`${repo}:`) && !n.includes('@'))
          .sort();
        if (names.length === 0)
          throw new CliError(`An image does not exist locally with the tag: ${arg}`);
      } else {
        names = [normalizeReference(arg)];
      }
    } catch (err) {
      if (err instanceof CliError) throw err;
      throw new CliError((err as Error).message);
    }
    const { dockerConfigCredentials } = await import('../../../remotes/index.js');
    const { dockerConfigDirOf, progressOn } = await import('./registry-opts.js');
    const credentials = dockerConfigCredentials(await dockerConfigDirOf(ctx));
    const platform = str(flags, 'platform');
    for (const name of names) {
      const record = await client
        .imageService()
        .get(client.context(), name)
        .catch(() => undefined);
      if (record === undefined) {
        throw new CliError(`An image does not exist locally with the tag: ${arg}`);
      }
      if (!quiet)
        ctx.out(`The push refers to repository [${referenceName(parseReference(name))}]\n`);
      const progress = await progressOn(ctx, mode);
      try {
        await client.push(name, {
          hostsDir: ctx.globals.hostsDir,
          credentials,
          ...(platform !== undefined && { platforms: [platform] }),
          onProgress: progress.onProgress,
        });
      } catch (err) {
        progress.fail(err);
        throw err;
      }
      progress.done();
      if (!quiet) {
        const tag = parseReference(name).tag ?? 'latest';
        ctx.out(`${tag}: digest: ${record.target.digest} size: ${record.target.size}\n`);
      }
    }
    return 0;
  },
};
