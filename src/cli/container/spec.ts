import { withHostDevices } from '../../client/oci/devices.js';
import { withImageConfig } from '../../client/oci/image-config.js';
import {
  withAllDevicesAllowed,
  withCPUCFS,
  withMemoryLimit,
  withPrivileged,
} from '../../client/oci/linux-opts.js';
import {
  withEnv,
  withMounts,
  withProcessArgs,
  withProcessCwd,
  withRootFSReadonly,
  withTTY,
} from '../../client/oci/spec-opts.js';
import type { ImageConfig, SpecImage, SpecOpt } from '../../client/oci/types.js';
import { withAdditionalGIDs, withUser } from '../../client/oci/user.js';
import { CliError } from '../errors.js';
import type { CreateOptions } from './options.js';

/**
 * The container's command as docker makes it: `--entrypoint` replaces the
 * image's ENTRYPOINT and drops its CMD (`--entrypoint ''` clears both);
 * arguments after the image replace CMD. Fails as docker does when nothing
 * is left.
 */
export function processArgs(
  config: ImageConfig,
  opts: Pick<CreateOptions, 'entrypoint' | 'command'>,
): string[] {
  let entrypoint = config.Entrypoint ?? [];
  let cmd = config.Cmd ?? [];
  if (opts.entrypoint !== undefined) {
    entrypoint = opts.entrypoint === '' ? [] : [opts.entrypoint];
    cmd = [];
  }
  if (opts.command.length > 0) cmd = opts.command;
  const args = [...entrypoint, ...cmd];
  if (args.length === 0) throw new CliError('No command specified');
  return args;
}

/**
 * The spec options for a container made by `run`/`create`, in the order
 * ctr applies its own: the image's config, then the process (args, env,
 * cwd, user, terminal), mounts, resources and confinement; `network` (the
 * network's hooks, files and namespace) last.
 */
export function containerSpecOpts(
  image: SpecImage,
  config: ImageConfig,
  opts: CreateOptions,
  network: SpecOpt[] = [],
): SpecOpt[] {
  const out: SpecOpt[] = [withImageConfig(image), withProcessArgs(...processArgs(config, opts))];
  if (opts.env.length > 0) out.push(withEnv(opts.env));
  if (opts.workdir !== undefined) out.push(withProcessCwd(opts.workdir));
  if (opts.user !== undefined) out.push(withUser(opts.user), withAdditionalGIDs(opts.user));
  if (opts.tty) out.push(withTTY());
  if (opts.mounts.length > 0) out.push(withMounts(opts.mounts));
  if (opts.cpu !== undefined) out.push(withCPUCFS(opts.cpu.quota, opts.cpu.period));
  if (opts.memory !== undefined) out.push(withMemoryLimit(opts.memory));
  if (opts.privileged) out.push(withPrivileged(), withAllDevicesAllowed(), withHostDevices());
  if (opts.readOnly) out.push(withRootFSReadonly());
  out.push(...network);
  return out;
}
