import { invalidArgument } from '../errdefs/index.js';
import { alwaysMatch, type Filter, matchAll, matchAny, selector } from './filter.js';
import { compileRe2, Re2SyntaxError } from './re2.js';
import { FilterSyntaxError, Scanner } from './scanner.js';

export interface ParseOptions {
  /**
   * Whether `|` at a selector boundary separates alternatives within one
   * filter string (default true). containerd has no such operator; a `|`
   * inside a bare value is a literal either way.
   */
  readonly pipeOr?: boolean;
}

const BLANK = /^\p{White_Space}*$/u;

/**
 * Parses one filter string. An empty (or blank) string matches everything.
 *
 * Throws `invalid_argument` naming the filter, the position and what was
 * expected there, e.g. `filter "name==": expected value or quoted value at position 6`.
 */
export function parseFilter(filter: string, options: ParseOptions = {}): Filter {
  if (BLANK.test(filter)) {
    return alwaysMatch;
  }
  try {
    return parseAlternatives(new Scanner(filter, options.pipeOr ?? true));
  } catch (err) {
    if (err instanceof FilterSyntaxError) {
      throw invalidArgument(
        `filter ${JSON.stringify(filter)}: ${err.reason} at position ${err.position}${err.detail === undefined ? '' : `: ${err.detail}`}`,
      );
    }
    throw err;
  }
}

/**
 * Parses several filter strings into a filter matching any of them, as
 * containerd's `ParseAll` does. No filters match everything.
 */
export function parseFilters(filters: readonly string[], options: ParseOptions = {}): Filter {
  const parsed = filters.map((filter) => parseFilter(filter, options));
  if (parsed.length === 0 || parsed.includes(alwaysMatch)) {
    return alwaysMatch;
  }
  return parsed.length === 1 && parsed[0] !== undefined ? parsed[0] : matchAny(parsed);
}

function parseAlternatives(scanner: Scanner): Filter {
  const alternatives: Filter[] = [];
  for (;;) {
    alternatives.push(parseSelectors(scanner));
    if (scanner.pipeOr && scanner.accept('|')) {
      continue;
    }
    const next = scanner.peek();
    if (next === undefined) {
      break;
    }
    const expected = scanner.pipeOr
      ? 'expected ",", "|" or end of filter'
      : 'expected "," or end of filter';
    throw new FilterSyntaxError(
      `unexpected ${JSON.stringify(next)}, ${expected}`,
      scanner.position,
    );
  }
  return alternatives.length === 1 && alternatives[0] !== undefined
    ? alternatives[0]
    : matchAny(alternatives);
}

function parseSelectors(scanner: Scanner): Filter {
  const selectors = [parseSelector(scanner)];
  while (scanner.accept(',')) {
    selectors.push(parseSelector(scanner));
  }
  return selectors.length === 1 && selectors[0] !== undefined ? selectors[0] : matchAll(selectors);
}

function parseSelector(scanner: Scanner): Filter {
  const fieldpath = [scanner.field().text];
  while (scanner.accept('.')) {
    fieldpath.push(scanner.field().text);
  }
  const next = scanner.peek();
  if (next === undefined || next === ',' || (scanner.pipeOr && next === '|')) {
    return selector(fieldpath, undefined);
  }
  const operator = scanner.operator();
  if (operator === undefined) {
    throw new FilterSyntaxError(
      `unexpected ${JSON.stringify(next)}, expected ".", an operator ("==", "!=" or "~="), "," or end of filter` +
        ' (field names with other characters must be quoted, e.g. labels."io.k8s/name")',
      scanner.position,
    );
  }
  const value = scanner.value();
  if (operator.text !== '~=') {
    if (value.quote === '/' || value.quote === '|') {
      throw new FilterSyntaxError(
        `invalid quote ${JSON.stringify(value.quote)}, only "~=" values may be quoted with "/" or "|"`,
        value.position,
      );
    }
    return selector(fieldpath, { operator: operator.text, value: value.text });
  }
  try {
    return selector(fieldpath, { operator: '~=', regexp: compileRe2(value.text) });
  } catch (err) {
    if (err instanceof Re2SyntaxError) {
      throw new FilterSyntaxError(
        `invalid regular expression ${JSON.stringify(value.text)}`,
        value.position,
        err.message,
      );
    }
    throw err;
  }
}
