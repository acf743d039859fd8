/**
 * @module
 * The process an image asks for (containerd's `oci.WithImageConfig` and
 * `WithImageConfigArgs`): environment, arguments, working directory and
 * user from the image config, the user's names resolved from the image's
 * own layers (see user.ts).
 */
import type { Descriptor } from '../../core/content/index.js';
import { invalidArgument, notImplemented, resourceExhausted } from '../../core/errdefs/index.js';
import { replaceOrAppendEnvValues } from './env.js';
import { ensureProcess, setList } from './process.js';
import { DEFAULT_UNIX_ENV } from './spec.js';
import type { ImageConfig, ImageConfigJson, SpecClient, SpecImage, SpecOpt } from './types.js';
import { rootSource, setAdditionalGids, setUser } from './user.js';

/** The config media types containerd reads (OCI, and Docker schema 2). */
export const IMAGE_CONFIG_MEDIA_TYPES: readonly string[] = [
  'application/vnd.oci.image.config.v1+json',
  'application/vnd.docker.container.image.v1+json',
];

/** The largest image config read (they are JSON of a few KiB; history can make them longer). */
const MAX_CONFIG_SIZE = 16 << 20;

/**
 * The process of `image`'s config (containerd's `oci.WithImageConfig`):
 *
 * - env: the image's `Env` (or the default PATH when it has none), with the
 *   spec's own variables applied over it;
 * - args: `Entrypoint` followed by `Cmd`;
 * - cwd: `WorkingDir`, or `/`;
 * - user: `User` as {@link withUser} reads it, with the additional gids of
 *   that uid from /etc/group; no `User` keeps uid 0 and sets root's additional
 *   gids.
 *
 * /etc/passwd and /etc/group are read from the image's layers through the
 * content store, so this needs no mount and no privileges.
 */
export function withImageConfig(image: SpecImage): SpecOpt {
  return withImageConfigArgs(image, []);
}

/** Like {@link withImageConfig}, with `args` replacing the image's `Cmd` when not empty. */
export function withImageConfigArgs(image: SpecImage, args: readonly string[]): SpecOpt {
  return async (client, container, spec) => {
    const { config: desc } = await image.manifest();
    const config = (await readImageConfig(client, image, desc)).config ?? {};
    const process = ensureProcess(spec);
    if (!spec.linux) {
      if (spec.windows !== undefined) throw notImplemented('image config for Windows specs');
      throw invalidArgument('spec does not contain Linux or Windows section');
    }
    const defaults = config.Env?.length ? config.Env : DEFAULT_UNIX_ENV;
    setList(process, 'env', replaceOrAppendEnvValues(defaults, process.env ?? []));
    const cmd = args.length > 0 ? args : (config.Cmd ?? []);
    setList(process, 'args', [...(config.Entrypoint ?? []), ...cmd]);
    process.cwd = config.WorkingDir || '/';
    const root = rootSource(client, container, spec, image);
    if (config.User) {
      await setUser(spec, config.User, root);
      await setAdditionalGids(spec, String(process.user.uid), root);
    } else {
      // containerd reads root's additional groups even when the image names no user
      await setAdditionalGids(spec, 'root', root);
    }
  };
}

/** The image config blob `desc` of `image`, parsed; fails for media types containerd does not read. */
export async function readImageConfig(
  client: SpecClient,
  image: SpecImage,
  desc: Descriptor,
): Promise<ImageConfigJson> {
  if (!IMAGE_CONFIG_MEDIA_TYPES.includes(desc.mediaType)) {
    throw invalidArgument(
      `image "${image.name}": unknown image config media type ${desc.mediaType}`,
    );
  }
  if (desc.size > MAX_CONFIG_SIZE) {
    throw resourceExhausted(
      `image "${image.name}": config ${desc.digest} is ${desc.size} bytes, over the limit of ${MAX_CONFIG_SIZE}`,
    );
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  const opts = client.signal ? { signal: client.signal } : {};
  const blob = image.readBlob ? image.readBlob(desc, opts) : client.readBlob(desc, opts);
  for await (const chunk of blob) {
    size += chunk.length;
    if (size > MAX_CONFIG_SIZE) {
      throw resourceExhausted(
        `image "${image.name}": config ${desc.digest} is over ${MAX_CONFIG_SIZE} bytes`,
      );
    }
    chunks.push(chunk);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (err) {
    throw invalidArgument(`image "${image.name}": config ${desc.digest} is not JSON`, {
      cause: err,
    });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw invalidArgument(`image "${image.name}": config ${desc.digest} is not a JSON object`);
  }
  const json = parsed as ImageConfigJson;
  checkConfig(image, desc, json.config);
  return json;
}

/** Refuses configs whose fields have the wrong JSON types, rather than failing half-way later. */
function checkConfig(image: SpecImage, desc: Descriptor, config: ImageConfig | undefined): void {
  if (config === undefined || config === null) return;
  const bad = (field: string) =>
    invalidArgument(`image "${image.name}": config ${desc.digest}: ${field} has the wrong type`);
  if (typeof config !== 'object') throw bad('config');
  for (const field of ['Env', 'Entrypoint', 'Cmd'] as const) {
    const v = config[field];
    if (v != null && (!Array.isArray(v) || v.some((s) => typeof s !== 'string'))) throw bad(field);
  }
  for (const field of ['User', 'WorkingDir'] as const) {
    const v = config[field];
    if (v != null && typeof v !== 'string') throw bad(field);
  }
}
