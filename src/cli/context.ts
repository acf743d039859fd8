import type { Client } from '../client/index.js';
import type { GlobalOptions } from './globals.js';

/** The streams a command reads and writes: results on stdout; progress, warnings and errors on stderr. */
export interface CliIO {
  readonly stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
}

/**
 * What a command runs with: the global options, the streams, the
 * environment, and the client, made on first use (so commands that do not
 * talk to the daemon never load gRPC).
 */
export class CliContext {
  private clientPromise: Promise<Client> | undefined;

  constructor(
    readonly globals: GlobalOptions,
    readonly io: CliIO,
    readonly env: NodeJS.ProcessEnv,
    /** The command's path (`['container', 'run']`), for messages. */
    readonly commandPath: readonly string[],
    /** How to run berth again (`[node, entry script]`): for OCI hooks and the restart monitor's log URIs. */
    readonly self: readonly string[],
  ) {}

  /** The client for `--address` in `--namespace`. */
  client(): Promise<Client> {
    this.clientPromise ??= import('../client/index.js').then(
      ({ Client }) => new Client(this.globals.address, { namespace: this.globals.namespace }),
    );
    return this.clientPromise;
  }

  /** Writes to stdout. */
  out(text: string): void {
    this.io.stdout.write(text);
  }

  /** A warning line on stderr. */
  warn(text: string): void {
    this.io.stderr.write(`WARNING: ${text}\n`);
  }

  /** Colors only on a terminal and without NO_COLOR (https://no-color.org). */
  get color(): boolean {
    return this.io.stderr.isTTY === true && (this.env.NO_COLOR ?? '') === '';
  }

  /** Closes the client, if one was made. */
  async close(): Promise<void> {
    if (this.clientPromise === undefined) return;
    const c = await this.clientPromise.catch(() => undefined);
    c?.close();
  }
}
