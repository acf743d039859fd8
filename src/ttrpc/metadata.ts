import type { KeyValue } from '../api/ttrpc/ttrpc.js';
import { invalidArgument } from '../core/errdefs/index.js';

/** Request metadata as callers give it: one value or several per key. */
export type TtrpcMetadataInit = Record<string, string | string[]>;

/**
 * Metadata as the wire carries it: one entry per value, keys lower-cased as
 * Go's ttrpc.MD stores them.
 */
export function encodeMetadata(init: TtrpcMetadataInit | undefined): KeyValue[] {
  const out: KeyValue[] = [];
  if (init === undefined) return out;
  for (const [rawKey, values] of Object.entries(init)) {
    if (rawKey === '') throw invalidArgument('metadata: empty key');
    const key = rawKey.toLowerCase();
    for (const value of Array.isArray(values) ? values : [values]) {
      if (typeof value !== 'string') {
        throw invalidArgument(`metadata ${JSON.stringify(rawKey)}: values must be strings`);
      }
      out.push({ key, value });
    }
  }
  return out;
}

/**
 * Received metadata: values gathered per key in arrival order, keys
 * lower-cased so lookups match Go's case-insensitive MD.Get.
 */
export function decodeMetadata(entries: readonly KeyValue[]): Map<string, string[]> {
  const md = new Map<string, string[]>();
  for (const { key, value } of entries) {
    const k = key.toLowerCase();
    const list = md.get(k);
    if (list) list.push(value);
    else md.set(k, [value]);
  }
  return md;
}
