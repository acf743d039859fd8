/**
 * The JSON containerd's verbose status shows: Go's encoding/json of the
 * generated CRI and runc types, whose tags are the proto field names
 * (snake_case) with `omitempty`. Converting the ts-proto objects (camelCase,
 * int64 as bigint) that way keeps `crictl inspectp` output the same as
 * containerd's. Map fields keep their keys as they are.
 */
const MAP_FIELDS = new Set(['labels', 'annotations', 'sysctls', 'labelSelector', 'unified']);

function snake(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

function isEmpty(v: unknown): boolean {
  return (
    v === undefined ||
    v === null ||
    v === '' ||
    v === 0 ||
    v === 0n ||
    v === false ||
    (Array.isArray(v) && v.length === 0) ||
    (v instanceof Uint8Array && v.length === 0)
  );
}

/** `value` as Go would marshal the generated struct it mirrors. */
export function goJson(value: unknown): unknown {
  if (typeof value === 'bigint') return Number(value);
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (Array.isArray(value)) return value.map(goJson);
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (isEmpty(v)) continue;
    if (MAP_FIELDS.has(k) && typeof v === 'object') {
      if (Object.keys(v as object).length > 0) out[snake(k)] = { ...(v as object) };
      continue;
    }
    out[snake(k)] = goJson(v);
  }
  return out;
}
