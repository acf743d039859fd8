import { describeKind, kindOf } from '../core/errdefs/index.js';

/**
 * docker's exit codes: 125 when berth itself fails (bad flags, a daemon
 * error), 126 when the container's command cannot be invoked, 127 when it
 * is not found; otherwise the container's own exit code.
 */
export const ExitCode = {
  ok: 0,
  failure: 125,
  cannotInvoke: 126,
  notFound: 127,
} as const;

/** An error with the exit code it ends berth with and the one line it prints. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = ExitCode.failure,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'CliError';
  }
}

/** A usage mistake: the message, then a hint to the command's help. */
export function usageError(message: string, commandPath: readonly string[]): CliError {
  const cmd = ['berth', ...commandPath].join(' ');
  return new CliError(`${message} (see '${cmd} --help')`);
}

/** The exit code for any error thrown by a command. */
export function exitCodeOf(err: unknown): number {
  if (err instanceof CliError) return err.exitCode;
  return ExitCode.failure;
}

/**
 * The one line berth prints for an error: the message, with the daemon's
 * error kind when it adds something (`not found`, `already exists`).
 */
export function errorLine(err: unknown): string {
  if (err instanceof CliError) return err.message;
  if (err instanceof Error) {
    const kind = kindOf(err);
    const msg = err.message.replace(/\s+/g, ' ').trim();
    if (kind === undefined || kind === 'unknown') return msg;
    const text = describeKind(kind);
    return msg.endsWith(text) ? msg : `${msg}: ${text}`;
  }
  return String(err);
}
