import type { Labels } from '../labels/index.js';

export interface Namespace {
  name: string;
  labels: Labels;
}

/**
 * The persistent set of namespaces. Every method is one transaction.
 *
 * Names are validated as identifiers (`invalid_argument`); label pairs are
 * bounded at 4096 bytes (`invalid_argument`).
 */
export interface NamespaceStore {
  /** Throws `already_exists` if the namespace exists. */
  create(namespace: Namespace): Namespace;
  /** Returns undefined when the namespace does not exist. */
  get(name: string): Namespace | undefined;
  /** All namespaces, ordered by name. */
  list(): Namespace[];
  /**
   * Sets labels. With `paths` (each `labels.<key>` or `labels`), only those
   * change, and an empty value removes a key; without, all labels are
   * replaced. As in containerd, updating a namespace that does not exist
   * creates it. Throws `invalid_argument` for any other path.
   */
  update(namespace: Namespace, paths?: readonly string[]): Namespace;
  /**
   * Throws `not_found` if it does not exist, and `failed_precondition`
   * naming what is left if it still holds resources. A store with a garbage
   * collector collects first, so garbage (what no image, container, lease
   * or root label holds) never keeps a namespace from being deleted.
   */
  delete(name: string): Promise<void>;
}
