/**
 * Docker's tables: cells separated by tabs aligned as Go's text/tabwriter
 * does with docker's settings (`tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)`:
 * a column is as wide as its widest cell plus 3 spaces, and at least 10),
 * the last cell of a line unpadded. Unlike tabwriter, trailing spaces are
 * trimmed from every line.
 */

/** Docker's tabwriter settings. */
const MIN_WIDTH = 10;
const PADDING = 3;

/** One column of a table: its header and how a row shows in it. */
export interface Column<R> {
  header: string;
  value: (row: R) => string;
}

export interface TableOptions {
  /** Leave out the header line. */
  noHeader?: boolean;
}

function width(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/**
 * Aligns tab-separated text (lines separated by `\n`) as Go's tabwriter:
 * a column block is a run of consecutive lines that have a tab-terminated
 * cell in that column; each block is as wide as its widest cell plus the
 * padding. Returns the lines without their `\n`.
 */
export function alignTabs(text: string): string[] {
  const lines = text.split('\n').map((l) => l.split('\t'));
  const out: string[] = lines.map(() => '');
  const widths: number[] = [];
  const write = (from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const cells = lines[i] ?? [];
      let s = '';
      cells.forEach((c, j) => {
        const w = widths[j];
        s +=
          w === undefined || j === cells.length - 1 ? c : c + ' '.repeat(Math.max(0, w - width(c)));
      });
      out[i] = s;
    }
  };
  const format = (line0: number, line1: number) => {
    const column = widths.length;
    let start = line0;
    for (let i = line0; i < line1; i++) {
      if (column >= (lines[i]?.length ?? 0) - 1) continue;
      write(start, i);
      start = i;
      let w = MIN_WIDTH;
      for (; i < line1 && column < (lines[i]?.length ?? 0) - 1; i++) {
        w = Math.max(w, width(lines[i]?.[column] ?? '') + PADDING);
      }
      widths.push(w);
      format(start, i);
      widths.pop();
      start = i;
      i--;
    }
    write(start, line1);
  };
  format(0, lines.length);
  return out.map((l) => l.replace(/ +$/, ''));
}

/** Aligns rows of tab-separated cells; the result ends with `\n`, or is '' for no lines. */
export function renderLines(lines: string[]): string {
  if (lines.length === 0) return '';
  return `${alignTabs(lines.join('\n')).join('\n')}\n`;
}

function cell(s: string): string {
  // A tab or newline inside a value would break the table's shape.
  return s.replace(/[\t\n]/g, ' ');
}

/** Renders docker's table: headers in upper case, then one line per row. */
export function renderTable<R>(
  columns: readonly Column<R>[],
  rows: readonly R[],
  opts: TableOptions = {},
): string {
  const lines: string[] = [];
  if (!opts.noHeader) lines.push(columns.map((c) => cell(c.header.toUpperCase())).join('\t'));
  for (const row of rows) lines.push(columns.map((c) => cell(c.value(row))).join('\t'));
  return renderLines(lines);
}
