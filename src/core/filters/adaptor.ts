/**
 * Resolves a field path of an object to its value as a string, or undefined
 * when the object has no such field. What "present" means is the adaptor's
 * choice; selectors only see the result.
 */
export type Adaptor = (fieldpath: readonly string[]) => string | undefined;

/**
 * An adaptor over a plain object (or `Map`), for example
 * `fieldsAdaptor({ name, labels, target: { digest, media_type } })`.
 *
 * - Each path segment selects an own property (or `Map` key) and descends;
 *   arrays are not descended into.
 * - When several segments remain and the current object has an own key equal
 *   to them joined with `.`, that key wins, so `labels.io.containerd.x` and
 *   `labels."io.containerd.x"` both find the label `io.containerd.x`, as
 *   containerd's adaptors do.
 * - Strings are values as they are (an empty string is present); numbers,
 *   bigints and booleans are converted with `String()`. `null`, `undefined`,
 *   objects and anything else are absent: leave a field out (or set it to
 *   `undefined`) to make it absent.
 */
export function fieldsAdaptor(fields: object): Adaptor {
  return (fieldpath) => resolve(fields, fieldpath, 0);
}

function resolve(node: unknown, fieldpath: readonly string[], index: number): string | undefined {
  if (index === fieldpath.length) {
    return leaf(node);
  }
  if (typeof node !== 'object' || node === null) {
    return undefined;
  }
  if (fieldpath.length - index > 1) {
    const joined = leaf(child(node, fieldpath.slice(index).join('.')));
    if (joined !== undefined) {
      return joined;
    }
  }
  const key = fieldpath[index];
  return key === undefined ? undefined : resolve(child(node, key), fieldpath, index + 1);
}

function child(node: object, key: string): unknown {
  if (node instanceof Map) {
    return node.get(key);
  }
  if (Array.isArray(node)) {
    return undefined;
  }
  return Object.hasOwn(node, key) ? (node as Readonly<Record<string, unknown>>)[key] : undefined;
}

function leaf(value: unknown): string | undefined {
  switch (typeof value) {
    case 'string':
      return value;
    case 'number':
    case 'bigint':
    case 'boolean':
      return String(value);
    default:
      return undefined;
  }
}
