/**
 * @module
 * Output for people and scripts, as docker's CLI prints it: tables,
 * `--format` (json, Go templates, `table …`), humanized sizes and times,
 * and parsers for docker's flag notations (filters, durations, sizes, cpus).
 */
export { parseFilters } from './filters.js';
export { formatG, goJson, goPrint, goQuote, goSprintf } from './go-fmt.js';
export {
  bytesSize,
  type ContainerStatus,
  exitedText,
  goTimeString,
  humanDuration,
  humanSize,
  shortDigest,
  statusText,
  timeAgo,
  truncateId,
  upText,
} from './humanize.js';
export { formatOutput, type OutputKind, type TableSpec } from './output.js';
export { alignTabs, type Column, renderLines, renderTable, type TableOptions } from './table.js';
export { compileTemplate, expandEscapes, type Template, truthy } from './template.js';
