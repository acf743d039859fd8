import type { Client, Image, PullOpts } from '../../../client/index.js';
import { isNotImplemented } from '../../../client/index.js';
import type { ProgressFn } from '../../../core/transfer/index.js';
import type { CliContext } from '../../context.js';
import { CliError } from '../../errors.js';

/** The progress modes of `--progress` (docker buildx's names). */
export const PROGRESS_MODES = ['auto', 'tty', 'plain', 'json', 'quiet'] as const;
export type ProgressMode = (typeof PROGRESS_MODES)[number];

/** `--progress`'s value checked; `-q` means `quiet`. */
export function progressMode(value: string | undefined, quiet: boolean): ProgressMode {
  if (quiet) return 'quiet';
  const v = value ?? 'auto';
  if (!(PROGRESS_MODES as readonly string[]).includes(v)) {
    throw new CliError(`invalid --progress "${v}": want one of ${PROGRESS_MODES.join(', ')}`);
  }
  return v as ProgressMode;
}

/** The progress display on stderr for a pull, push, load or save. */
export async function progressOn(
  ctx: CliContext,
  mode: ProgressMode,
): Promise<{ onProgress: ProgressFn; done(summary?: string): void; fail(err: unknown): void }> {
  const { createProgress } = await import('../../progress/index.js');
  return createProgress(mode, ctx.io.stderr, { env: ctx.env });
}

/**
 * Pulls through the daemon's Transfer service (berthd, containerd 1.7+),
 * where the daemon talks to the registry; a daemon without it (containerd
 * 1.6 answers `unimplemented`) gets a pull run here, with the same
 * options. Credentials come from Docker's config.json either way: the
 * daemon asks for them on the auth stream.
 */
export async function pullImage(client: Client, ref: string, opts: PullOpts): Promise<Image> {
  try {
    return await client.pull(ref, { ...opts, remote: true });
  } catch (err) {
    // containerd 1.6: "unknown service containerd.services.transfer.v1.Transfer".
    if (!isNotImplemented(err)) throw err;
  }
  return client.pull(ref, { ...opts, remote: false });
}

/** Docker's config directory for this run: `$DOCKER_CONFIG`, else `~/.docker`. */
export async function dockerConfigDirOf(ctx: CliContext): Promise<string> {
  const { homedir } = await import('node:os');
  const { join } = await import('node:path');
  return ctx.env.DOCKER_CONFIG || join(ctx.env.HOME || homedir(), '.docker');
}
