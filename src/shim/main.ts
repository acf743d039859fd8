import { readFileSync } from 'node:fs';
import { parseFlags, type ShimFlags } from './flags.js';

/**
 * containerd-shim-berth-v1: berth's grouped shim (runtime
 * `io.containerd.berth.v1`). `start` finds or starts the group's daemon and
 * prints its address; `delete` cleans a bundle whose shim is gone; without
 * an action the process is the daemon serving containerd.task.v2.Task.
 * Each mode loads only its own modules.
 */

const SHIM_NAME = 'containerd-shim-berth-v1';

/** berth's version and build commit (package.json, dist/REVISION), as the Go shim prints containerd's. */
function versionText(): string {
  const read = (rel: string): string => {
    try {
      return readFileSync(new URL(rel, import.meta.url), 'utf8');
    } catch {
      return '';
    }
  };
  let version = 'unknown';
  try {
    version = (JSON.parse(read('../../package.json')) as { version?: string }).version ?? version;
  } catch {
    // an unusual layout
  }
  const revision = read('../../dist/REVISION').trim() || 'unknown';
  return `${SHIM_NAME}:\n  Version:  ${version}\n  Revision: ${revision}\n  Node version: ${process.version}\n\n`;
}

async function main(argv: string[]): Promise<void> {
  let flags: ShimFlags;
  try {
    flags = parseFlags(argv);
  } catch (err) {
    process.stderr.write(`${SHIM_NAME}: ${(err as Error).message}\n`);
    process.exitCode = 2;
    return;
  }
  if (flags.version) {
    process.stdout.write(versionText());
    return;
  }
  try {
    if (flags.spare) {
      await (await import('./serve.js')).serveSpare(flags);
      return;
    }
    if (flags.namespace === '') throw new Error('shim namespace cannot be empty');
    switch (flags.action) {
      case 'start':
        await (await import('./start.js')).start(flags);
        break;
      case 'delete':
        await (await import('./delete.js')).deleteBundle(flags);
        break;
      default:
        await (await import('./serve.js')).serve(flags);
        return;
    }
  } catch (err) {
    process.stderr.write(`${SHIM_NAME}: ${(err as Error).message}`);
    process.exit(1);
  }
}

void main(process.argv.slice(2));
