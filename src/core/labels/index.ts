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
