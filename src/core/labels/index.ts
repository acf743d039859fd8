/**
 * @module labels
 * Labels are free-form string pairs on namespaces, images, containers,
 * content and leases. containerd bounds each pair at 4096 bytes.
 */
import { invalidArgument } from '../errdefs/index.js';

export type Labels = Record<string, string>;

export const MAX_LABEL_SIZE = 4096;

/** Throws `invalid_argument` when a key and value together exceed 4096 bytes. */
export function validateLabel(key: string, value: string): void {
  if (Buffer.byteLength(key) + Buffer.byteLength(value) > MAX_LABEL_SIZE) {
    throw invalidArgument(
      `label key and value greater than maximum size (${MAX_LABEL_SIZE} bytes), key: ${key}`,
    );
  }
}

export function validateLabels(labels: Labels, subject: string): void {
  for (const [k, v] of Object.entries(labels)) {
    try {
      validateLabel(k, v);
    } catch (err) {
      throw invalidArgument(`${subject}.labels: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
}

/**
 * Applies a label update as containerd's stores do. Without `paths`, the
 * incoming labels replace all. With them, `labels` replaces all and
 * `labels.<key>` sets one key (an absent or empty value removes it). Paths
 * that are not about labels are returned for the caller to handle. Empty
 * values never stay: containerd stores no empty labels.
 */
export function applyLabelPaths(
  current: Labels,
  incoming: Labels,
  paths: readonly string[] | undefined,
): { labels: Labels; otherPaths: string[] } {
  const otherPaths: string[] = [];
  let labels: Labels;
  if (paths === undefined || paths.length === 0) {
    labels = { ...incoming };
  } else {
    labels = { ...current };
    for (const p of paths) {
      if (p === 'labels') {
        labels = { ...incoming };
      } else if (p.startsWith('labels.')) {
        const key = p.slice('labels.'.length);
        const value = incoming[key];
        if (value === undefined || value === '') delete labels[key];
        else labels[key] = value;
      } else {
        otherPaths.push(p);
      }
    }
  }
  for (const [k, v] of Object.entries(labels)) if (v === '') delete labels[k];
  return { labels, otherPaths };
}
