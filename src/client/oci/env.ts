/**
 * @module
 * Environment lists (`KEY=value` strings) merged as containerd merges them.
 */

/**
 * `defaults` with `overrides` applied (containerd's replaceOrAppendEnvValues):
 * an override `K=v` replaces the value of `K` where the defaults have it,
 * else is appended; an override `K` without `=` removes `K`. Order is kept:
 * replaced values stay where the defaults had them. Empty strings are
 * dropped from the result, as containerd drops them.
 */
export function replaceOrAppendEnvValues(
  defaults: readonly string[],
  overrides: readonly string[],
): string[] {
  const results = [...defaults];
  const index = new Map<string, number>();
  defaults.forEach((e, i) => {
    index.set(envKey(e), i);
  });
  for (const value of overrides) {
    const eq = value.indexOf('=');
    const at = index.get(eq < 0 ? value : value.slice(0, eq));
    if (eq < 0) {
      if (at !== undefined) results[at] = '';
    } else if (at !== undefined) {
      results[at] = value;
    } else {
      results.push(value);
    }
  }
  return results.filter((e) => e !== '');
}

function envKey(entry: string): string {
  const eq = entry.indexOf('=');
  return eq < 0 ? entry : entry.slice(0, eq);
}
