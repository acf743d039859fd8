/**
 * Output of the image commands through the CLI's formatter: docker's
 * table, `--format json` (a JSON object per line for lists, a JSON array
 * for inspect), or a Go template (`{{.Repository}}`, `table {{…}}`).
 * Template errors are one line, exit 125.
 */
import { CliError } from '../../errors.js';
import { formatOutput, type TableSpec } from '../../format/index.js';

function run(f: () => string): string {
  try {
    return f();
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(`template: ${(err as Error).message.replace(/\s+/g, ' ')}`);
  }
}

/** A list (`images`): rows are the objects templates and `json` see; the table shows `spec`'s columns. */
export function formatList<R>(
  format: string | undefined,
  rows: readonly R[],
  spec: TableSpec<R>,
): string {
  return run(() => formatOutput(format, 'list', rows, spec));
}

/** Inspect output: docker's indented JSON array, or a template per object. */
export function formatInspect(format: string | undefined, objects: readonly object[]): string {
  return run(() => formatOutput(format, 'inspect', objects));
}
