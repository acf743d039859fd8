/**
 * Output of the image commands: docker's table (columns three spaces
 * apart), `--format json` (a JSON object per line for lists, a JSON array
 * for inspect), or a Go template per row (`--format '{{.Repository}}'`,
 * `table {{…}}`) through the CLI's template engine.
 */
import { CliError } from '../../errors.js';

export interface Column<R> {
  readonly header: string;
  value(row: R): string;
}

/** docker's tabwriter layout: each column as wide as its widest cell, three spaces apart. */
export function renderTable<R>(columns: readonly Column<R>[], rows: readonly R[]): string {
  const cells = [columns.map((c) => c.header), ...rows.map((r) => columns.map((c) => c.value(r)))];
  const widths = columns.map((_, i) => Math.max(...cells.map((line) => (line[i] ?? '').length)));
  return cells
    .map((line) =>
      line
        .map((cell, i) => (i === line.length - 1 ? cell : cell.padEnd((widths[i] ?? 0) + 3)))
        .join('')
        .trimEnd(),
    )
    .map((l) => `${l}\n`)
    .join('');
}

/**
 * A list in the `--format` asked: undefined or `table` → the table; `json`
 * → one JSON object per row and line; else a Go template over each row's
 * JSON object (`table …`: with a header row).
 */
export async function formatList<R>(
  format: string | undefined,
  columns: readonly Column<R>[],
  rows: readonly R[],
  jsonOf: (row: R) => Record<string, unknown>,
): Promise<string> {
  if (format === undefined || format === '' || format === 'table') {
    return renderTable(columns, rows);
  }
  if (format === 'json') return rows.map((r) => `${JSON.stringify(jsonOf(r))}\n`).join('');
  return template(format, rows.map(jsonOf));
}

/** Inspect output: a JSON array (docker's default and `json`), or a template per object. */
export async function formatInspect(
  format: string | undefined,
  objects: readonly Record<string, unknown>[],
): Promise<string> {
  if (format === undefined || format === '' || format === 'json') {
    return `${JSON.stringify(objects, null, 4)}\n`;
  }
  return template(format, objects);
}

async function template(
  format: string,
  objects: readonly Record<string, unknown>[],
): Promise<string> {
  let compile: ((src: string) => { execute(data: unknown): string }) | undefined;
  try {
    // The CLI's Go-template engine (src/cli/format); loaded only for templates.
    const mod = (await import(/* @vite-ignore */ FORMAT_MODULE)) as {
      compileTemplate?: (src: string) => { execute(data: unknown): string };
    };
    compile = mod.compileTemplate;
  } catch {
    compile = undefined;
  }
  if (compile === undefined) throw new CliError(`unsupported format ${JSON.stringify(format)}`);
  const table = format.startsWith('table ');
  const src = table ? format.slice('table '.length) : format;
  const t = compile(src.endsWith('\n') ? src : `${src}\n`);
  return objects.map((o) => t.execute(o)).join('');
}

const FORMAT_MODULE = '../../format/index.js';

/** docker's sizes (go-units HumanSizeWithPrecision 3): `855B`, `4.26MB`, `1.2GB`, decimal units. */
export function humanSize(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let v = Math.max(0, bytes);
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${Number(v.toPrecision(3))}${units[i]}`;
}

/** docker's CREATED column (go-units HumanDuration + " ago"): `2 hours ago`, `3 weeks ago`. */
export function timeAgo(date: Date, now: Date = new Date()): string {
  const s = Math.floor((now.getTime() - date.getTime()) / 1000);
  if (s < 1) return 'Less than a second ago';
  if (s === 1) return '1 second ago';
  if (s < 60) return `${s} seconds ago`;
  const m = Math.floor(s / 60);
  if (m === 1) return 'About a minute ago';
  if (m < 60) return `${m} minutes ago`;
  const h = Math.round(s / 3600);
  if (h === 1) return 'About an hour ago';
  if (h < 48) return `${h} hours ago`;
  if (h < 24 * 7 * 2) return `${Math.floor(h / 24)} days ago`;
  if (h < 24 * 30 * 2) return `${Math.floor(h / 24 / 7)} weeks ago`;
  if (h < 24 * 365 * 2) return `${Math.floor(h / 24 / 30)} months ago`;
  return `${Math.floor(h / 24 / 365)} years ago`;
}
