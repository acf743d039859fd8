import type { CliContext } from '../context.js';
import { errorLine } from '../errors.js';

/**
 * Runs `fn` for each container reference, in order (docker's verbs on
 * several containers): the reference is printed when it succeeds, a line
 * on stderr when it fails, and the last failure is thrown once all were
 * tried, so each failure is one line and the exit code says something failed.
 */
export async function forEachContainer(
  ctx: CliContext,
  refs: readonly string[],
  fn: (ref: string) => Promise<void>,
): Promise<number> {
  let last: unknown;
  for (const ref of refs) {
    try {
      await fn(ref);
      ctx.out(`${ref}\n`);
    } catch (err) {
      if (last !== undefined) ctx.io.stderr.write(`berth: ${errorLine(last)}\n`);
      last = err;
    }
  }
  if (last !== undefined) throw last;
  return 0;
}
