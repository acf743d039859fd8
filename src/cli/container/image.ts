import { isNotFound, isNotImplemented } from '../../client/errors.js';
import { Image as ImageObject } from '../../client/image.js';
import type { Client, Image } from '../../client/index.js';
import { normalizeReference } from '../../core/reference/index.js';
import type { CliContext } from '../context.js';
import { CliError, errorLine } from '../errors.js';
import type { PullPolicy } from './options.js';

/**
 * The image `ref` for a new container, as `docker run --pull` finds it:
 * `never` takes the local one, `missing` pulls when there is none, `always`
 * pulls. A pull goes through the daemon's Transfer service (the daemon
 * reaches the registry), or from this process when the daemon has none;
 * progress goes to stderr. The image answered is unpacked in the
 * snapshotter, for the platform asked.
 */
export async function ensureImage(
  ctx: CliContext,
  client: Client,
  ref: string,
  policy: PullPolicy,
  platform: string | undefined,
  /** Set when the image was pulled or unpacked (which may take long). */
  seen: { fetched: boolean } = { fetched: false },
): Promise<Image> {
  let name: string;
  try {
    name = normalizeReference(ref);
  } catch (err) {
    throw new CliError(`invalid reference format: ${ref}: ${errorLine(err)}`);
  }
  let image: Image | undefined;
  if (policy !== 'always') {
    try {
      image = await client.getImage(name);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    if (image === undefined && policy === 'never') throw new CliError(`No such image: ${ref}`);
    if (image === undefined) ctx.io.stderr.write(`Unable to find image '${ref}' locally\n`);
  }
  if (image === undefined) {
    seen.fetched = true;
    image = await pull(ctx, client, ref, platform);
  }
  if (platform !== undefined) image = new ImageObject(client, image.record, platform);
  if (!(await image.isUnpacked())) {
    seen.fetched = true;
    await image.unpack();
  }
  return image;
}

async function pull(
  ctx: CliContext,
  client: Client,
  ref: string,
  platform: string | undefined,
): Promise<Image> {
  const { createProgress } = await import('../progress/index.js');
  const progress = createProgress('auto', ctx.io.stderr);
  const opts = {
    unpack: true,
    onProgress: progress.onProgress,
    ...(platform !== undefined && { platform }),
  };
  try {
    let image: Image;
    try {
      image = await client.pull(ref, { ...opts, remote: true });
    } catch (err) {
      if (!isNotImplemented(err)) throw err;
      image = await client.pull(ref, { ...opts, hostsDir: ctx.globals.hostsDir });
    }
    progress.done();
    return image;
  } catch (err) {
    progress.fail(err);
    throw new CliError(`pulling ${ref}: ${errorLine(err)}`, undefined, { cause: err });
  }
}
