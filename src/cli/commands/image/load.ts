import { bool, str } from '../../args.js';
import type { CommandSpec } from '../../command.js';
import { CliError } from '../../errors.js';

/**
 * `berth load`: imports a docker-save or OCI archive (plain or gzip) from
 * `-i FILE` or stdin into the daemon, unpacked, and prints docker's
 * `Loaded image: <ref>` per named image (`Loaded image ID: <ID>` for one
 * without a tag).
 */
export const command: CommandSpec = {
  usage: '[OPTIONS]',
  summary: 'Load an image from a tar archive or STDIN',
  flags: [
    {
      name: 'input',
      short: 'i',
      type: 'string',
      help: 'read from tar archive file, instead of STDIN',
    },
    { name: 'quiet', short: 'q', type: 'bool', help: 'suppress the load output' },
    { name: 'platform', type: 'string', help: "load only this platform (default the host's)" },
    {
      name: 'progress',
      type: 'string',
      help: 'progress on stderr: auto, tty, plain, json or quiet',
      default: 'auto',
    },
  ],
  maxArgs: 0,
  async run(ctx, { flags }) {
    const { progressMode, progressOn } = await import('./registry-opts.js');
    const quiet = bool(flags, 'quiet');
    const mode = progressMode(str(flags, 'progress'), quiet);
    const file = str(flags, 'input');
    let input: AsyncIterable<Uint8Array>;
    if (file !== undefined && file !== '-') {
      const { createReadStream } = await import('node:fs');
      const { access } = await import('node:fs/promises');
      try {
        await access(file);
      } catch (err) {
        throw new CliError(
          `open ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`,
        );
      }
      input = createReadStream(file);
    } else {
      if (ctx.io.stdin.isTTY === true) {
        throw new CliError('requested load from stdin, but stdin is empty');
      }
      input = ctx.io.stdin as AsyncIterable<Uint8Array>;
    }
    const client = await ctx.client();
    const progress = await progressOn(ctx, mode);
    const platform = str(flags, 'platform');
    let images: Awaited<ReturnType<typeof client.import>>;
    try {
      images = await client.import(input, {
        unpack: true,
        ...(platform !== undefined && { platform }),
        onProgress: progress.onProgress,
      });
    } catch (err) {
      progress.fail(err);
      throw new CliError(
        `load${file !== undefined ? ` ${file}` : ''}: ${(err as Error).message.replace(/\s+/g, ' ')}`,
      );
    }
    progress.done(`loaded ${images.length} image${images.length === 1 ? '' : 's'}`);
    if (!quiet) {
      const { familiar, isDangling } = await import('./names.js');
      for (const img of images) {
        if (!isDangling(img.name)) ctx.out(`Loaded image: ${familiar(img.name)}\n`);
        else {
          const id = await img.config().then(
            (d) => d.digest,
            () => img.target.digest,
          );
          ctx.out(`Loaded image ID: ${id}\n`);
        }
      }
    }
    return 0;
  },
};
