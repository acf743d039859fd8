/**
 * `--filter key=value` flags as docker parses them (its filters.ParseFlag):
 * split at the first `=`, the key lower-cased and both sides trimmed; a
 * key given more than once keeps every distinct value, in order.
 */
import { invalidArgument } from '../../core/errdefs/index.js';

/**
 * Parses `--filter` values into key → values. `accepted`, when given, is the
 * command's list of filter keys; any other key is an error naming it, as
 * docker's filters.Validate does.
 */
export function parseFilters(
  args: readonly string[],
  accepted?: readonly string[],
): Map<string, string[]> {
  const filters = new Map<string, string[]>();
  for (const arg of args) {
    const eq = arg.indexOf('=');
    if (eq < 0) throw invalidArgument(`invalid filter "${arg}": expected key=value`);
    const key = arg.slice(0, eq).trim().toLowerCase();
    const value = arg.slice(eq + 1).trim();
    if (key === '') throw invalidArgument(`invalid filter "${arg}": the key is empty`);
    if (accepted && !accepted.includes(key)) {
      throw invalidArgument(`invalid filter "${key}": accepted filters are ${accepted.join(', ')}`);
    }
    const values = filters.get(key) ?? [];
    if (!values.includes(value)) values.push(value);
    filters.set(key, values);
  }
  return filters;
}
