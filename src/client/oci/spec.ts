/**
 * @module
 * containerd's default spec for Linux containers (`oci.GenerateSpec`, as in
 * containerd 1.7) and the generation from it: defaults, then each option in
 * order.
 *
 * containerd 1.6 (Debian's `ctr` 1.6.20) differs in two places only: it
 * writes `ociVersion` 1.0.2-dev and does not mask `/sys/devices/virtual/powercap`.
 */
import { readFile } from 'node:fs/promises';
import type { Provider } from '../../core/content/index.js';
import { failedPrecondition, invalidArgument } from '../../core/errdefs/index.js';
import { namespaceRequired, type OpContext } from '../../core/namespaces/index.js';
import { DEFAULT_PATH_ENV, defaultLinuxSpec } from '../../core/oci/index.js';
import type { Spec, SpecClient, SpecContainer, SpecImage, SpecOpt } from './types.js';

/** The runtime-spec version the specs are written for (containerd 1.7 vendors runtime-spec 1.1.0). */
export const OCI_VERSION = '1.1.0';

export {
  DEFAULT_ROOTFS_PATH,
  defaultUnixCaps,
  defaultUnixNamespaces,
} from '../../core/oci/index.js';

/** The environment a Linux process gets when the image sets none. */
export const DEFAULT_UNIX_ENV: readonly string[] = [DEFAULT_PATH_ENV];

/**
 * containerd's default Linux spec for container `id` in `namespace`: root
 * `rootfs`, uid 0, cwd `/`, no new privileges, the default capabilities,
 * 1024 open files, the default mounts, masked and read-only paths of /proc and
 * /sys, a deny-all device cgroup, five new namespaces and the cgroups path
 * `/<namespace>/<id>`. No args, no env: options (withImageConfig) add them.
 */
export function defaultUnixSpec(namespace: string, id: string): Spec {
  if (namespace === '') throw failedPrecondition('namespace is required');
  return defaultLinuxSpec({
    ociVersion: OCI_VERSION,
    cgroupsPath: cgroupsPathOf(namespace, id),
    maskPowercap: true,
  });
}

/** `/<namespace>/<id>`, cleaned as Go's filepath.Join cleans it. */
export function cgroupsPathOf(namespace: string, id: string): string {
  const parts: string[] = [];
  for (const part of `${namespace}/${id}`.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') parts.pop();
    else parts.push(part);
  }
  return `/${parts.join('/')}`;
}

/**
 * The spec of a new container: containerd's defaults for `container.id` in
 * `client.namespace` (see {@link defaultUnixSpec}), then `opts` applied in
 * order (containerd's `oci.GenerateSpec`).
 *
 * @example
 * ```ts
 * const spec = await generateSpec(client, { id: 'redis' }, withImageConfig(image), withTTY());
 * ```
 */
export async function generateSpec(
  client: SpecClient,
  container: SpecContainer,
  ...opts: SpecOpt[]
): Promise<Spec> {
  const spec = defaultUnixSpec(client.namespace, container.id);
  await applyOpts(client, container, spec, ...opts);
  return spec;
}

/** Applies `opts` to `spec` in order; the first to throw stops it (containerd's `oci.ApplyOpts`). */
export async function applyOpts(
  client: SpecClient,
  container: SpecContainer,
  spec: Spec,
  ...opts: SpecOpt[]
): Promise<void> {
  for (const opt of opts) {
    client.signal?.throwIfAborted();
    await opt(client, container, spec);
  }
}

/** One option made of several, applied in order (containerd's `oci.Compose`). */
export function compose(...opts: SpecOpt[]): SpecOpt {
  return (client, container, spec) => applyOpts(client, container, spec, ...opts);
}

/**
 * Replaces the spec with containerd's defaults (containerd's
 * `oci.WithDefaultSpec`): use it first, to start over from a spec that came
 * from elsewhere.
 */
export function withDefaultSpec(): SpecOpt {
  return (client, container, spec) => {
    const fresh = defaultUnixSpec(client.namespace, container.id);
    for (const key of Object.keys(spec)) delete (spec as unknown as Record<string, unknown>)[key];
    Object.assign(spec, fresh);
  };
}

/**
 * Replaces the spec with the one in `json` (containerd's
 * `oci.WithSpecFromBytes`); fails `invalid_argument` when it is not a JSON
 * object with an `ociVersion`.
 */
export function withSpecFromBytes(json: Uint8Array | string): SpecOpt {
  return (_client, _container, spec) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(typeof json === 'string' ? json : Buffer.from(json).toString('utf8'));
    } catch (err) {
      throw invalidArgument(
        `decoding spec config file failed, current supported OCI runtime-spec : v${OCI_VERSION}`,
        { cause: err },
      );
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw invalidArgument('decoding spec config file failed: not a JSON object');
    }
    for (const key of Object.keys(spec)) delete (spec as unknown as Record<string, unknown>)[key];
    Object.assign(spec, parsed);
  };
}

/** Replaces the spec with the one in the file `path` on the client's host (containerd's `oci.WithSpecFromFile`). */
export function withSpecFromFile(path: string): SpecOpt {
  return async (client, container, spec) => {
    let data: Buffer;
    try {
      data = await readFile(path);
    } catch (err) {
      throw invalidArgument(`cannot load spec config file: ${(err as Error).message}`, {
        cause: err,
      });
    }
    await withSpecFromBytes(data)(client, container, spec);
  };
}

/**
 * The {@link SpecClient} of a client: the operation context's namespace
 * (required) and signal, blobs read from `content`, images found by
 * `getImage`.
 */
export function specClientFor(
  ctx: OpContext,
  content: Provider,
  getImage: (name: string) => Promise<SpecImage>,
): SpecClient {
  return {
    namespace: namespaceRequired(ctx),
    signal: ctx.signal,
    readBlob: (desc, opts) =>
      content.read(
        opts?.signal && opts.signal !== ctx.signal ? { ...ctx, signal: opts.signal } : ctx,
        desc.digest,
      ),
    getImage,
  };
}

/**
 * A {@link SpecClient} for generating specs where no image lookup or blob
 * read is needed (tests, specs without images): those calls throw
 * `invalid_argument`.
 */
export function specClientWithoutContent(namespace: string): SpecClient {
  return {
    namespace,
    readBlob(desc) {
      throw invalidArgument(`reading blob ${desc.digest}: this spec client has no content store`);
    },
    getImage(name): Promise<SpecImage> {
      return Promise.reject(
        invalidArgument(`image "${name}": this spec client has no image store`),
      );
    },
  };
}
