import { str } from '../../args.js';
import type { CommandSpec } from '../../command.js';
import { CliError } from '../../errors.js';

/**
 * `berth save`: one archive of the images, to `-o FILE` or stdout (never
 * to a terminal, as docker). The archive is an OCI image layout with
 * Docker's manifest.json beside index.json, so `docker load`, `berth load`,
 * `ctr import` and `skopeo docker-archive:`/`oci-archive:` all read it.
 * A file is written beside its destination and renamed into place once
 * complete.
 */
export const command: CommandSpec = {
  usage: '[OPTIONS] IMAGE [IMAGE...]',
  summary: 'Save one or more images to a tar archive (streamed to STDOUT by default)',
  flags: [
    { name: 'output', short: 'o', type: 'string', help: 'write to a file, instead of STDOUT' },
    { name: 'platform', type: 'string', help: "save only this platform (default the host's)" },
    {
      name: 'progress',
      type: 'string',
      help: 'progress on stderr: auto, tty, plain, json or quiet',
      default: 'auto',
    },
  ],
  minArgs: 1,
  async run(ctx, { flags, args }) {
    const { progressMode, progressOn } = await import('./registry-opts.js');
    const mode = progressMode(str(flags, 'progress'), false);
    const file = str(flags, 'output');
    if ((file === undefined || file === '-') && ctx.io.stdout.isTTY === true) {
      throw new CliError('cowardly refusing to save to a terminal. Use the -o flag or redirect');
    }
    const { listSummaries, resolveImage } = await import('./catalog.js');
    const client = await ctx.client();
    const all = await listSummaries(client);
    const names: string[] = [];
    for (const arg of args) {
      const r = await resolveImage(client, arg, all);
      for (const s of r.summaries) if (!names.includes(s.record.name)) names.push(s.record.name);
    }
    const platform = str(flags, 'platform');
    const progress = await progressOn(ctx, mode);
    const opts = {
      ...(platform !== undefined && { platforms: [platform] }),
      onProgress: progress.onProgress,
    };
    try {
      if (file === undefined || file === '-') {
        await client.export(ctx.io.stdout, names, opts);
      } else {
        await saveToFile(file, (out) => client.export(out, names, opts));
      }
    } catch (err) {
      progress.fail(err);
      throw new CliError(`save: ${(err as Error).message.replace(/\s+/g, ' ')}`);
    }
    progress.done(`saved ${names.length} image${names.length === 1 ? '' : 's'}`);
    return 0;
  },
};

/** Writes through `write` into a temporary file beside `file`, renamed to it once complete. */
async function saveToFile(
  file: string,
  write: (out: NodeJS.WritableStream) => Promise<void>,
): Promise<void> {
  const { createWriteStream } = await import('node:fs');
  const { rename, rm } = await import('node:fs/promises');
  const { basename, dirname, join } = await import('node:path');
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  const out = createWriteStream(tmp, { mode: 0o644 });
  const opened = new Promise<void>((res, rej) => {
    out.once('open', () => res());
    out.once('error', rej);
  });
  try {
    await opened;
    await write(out);
    await new Promise<void>((res, rej) => {
      out.once('error', rej);
      out.end(() => res());
    });
    await rename(tmp, file);
  } catch (err) {
    out.destroy();
    await rm(tmp, { force: true });
    throw err;
  }
}
