/**
 * formatOutput: the one place every command turns its rows into stdout text
 * for `--format`, as docker's formatter does:
 *
 * - no format (or `table`): the command's default table; for inspect an
 *   indented JSON array (4 spaces, as `docker inspect` prints);
 * - `json`: JSON lines for lists (one object per row), the JSON array for inspect;
 * - `table <template>`: a table whose header is the template's header pass
 *   (`.ID` → `headers.ID`, e.g. `CONTAINER ID`) and whose rows the template makes;
 * - anything else: the template applied to each row, one line each.
 *
 * `-q` is the caller's (it prints IDs). The result ends with `\n`, or is ''.
 */
import { goJson } from './go-fmt.js';
import { type Column, renderLines, renderTable } from './table.js';
import { compileTemplate } from './template.js';

export type OutputKind = 'list' | 'inspect';

/** What a command gives for its tables. */
export interface TableSpec<R> {
  /** The default table's columns. */
  columns: readonly Column<R>[];
  /** Header text per template field for `table …` formats (docker's header map), e.g. `{ ID: 'CONTAINER ID' }`. */
  headers?: Readonly<Record<string, string>>;
}

const TABLE = 'table';

/** Docker's templateString: the `table` prefix removed, then spaces (only) trimmed. */
function templateSource(format: string): string {
  const src = format.startsWith(TABLE) ? format.slice(TABLE.length) : format;
  return src.replace(/^ +| +$/g, '');
}

function jsonArray(rows: readonly unknown[]): string {
  return `${goJson(rows, 4)}\n`;
}

/**
 * One row of `--format json`: docker marshals its list contexts through a
 * map, so their keys come out sorted; berth sorts a row's top-level keys too.
 */
function jsonLine(row: unknown): string {
  if (row === null || typeof row !== 'object' || Array.isArray(row) || row instanceof Map)
    return goJson(row);
  const o = row as Record<string, unknown>;
  return goJson(
    Object.fromEntries(
      Object.keys(o)
        .sort()
        .map((k) => [k, o[k]]),
    ),
  );
}

export function formatOutput<R>(
  format: string | undefined,
  kind: OutputKind,
  rows: readonly R[],
  tableSpec?: TableSpec<R>,
): string {
  if (format === undefined || format === '' || format === TABLE) {
    if (kind === 'inspect' || !tableSpec) return jsonArray(rows);
    return renderTable(tableSpec.columns, rows);
  }
  if (format === 'json') {
    if (kind === 'inspect') return jsonArray(rows);
    return rows.length === 0 ? '' : `${rows.map(jsonLine).join('\n')}\n`;
  }
  const tmpl = compileTemplate(templateSource(format));
  if (format.startsWith(TABLE)) {
    return renderLines([tmpl.header(tableSpec?.headers), ...rows.map((r) => tmpl(r))]);
  }
  return rows.map((r) => `${tmpl(r)}\n`).join('');
}
