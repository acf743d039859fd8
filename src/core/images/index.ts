/**
 * @module images
 * Image records: a name (a full reference) pointing at a target descriptor
 * (an index or manifest in the content store), per namespace.
 */
import type { Descriptor } from '../content/index.js';
import type { Labels } from '../labels/index.js';
import type { OpContext } from '../namespaces/index.js';

export interface Image {
  name: string;
  labels: Labels;
  target: Descriptor;
  /** Nanoseconds since the epoch. */
  createdAt: bigint;
  updatedAt: bigint;
}

/**
 * Image records in the context's namespace. `create` throws
 * `already_exists`; `get`, `update` and `delete` throw `not_found`. Names
 * must be non-empty; targets need a media type, a valid digest and a size.
 * Update paths: `labels`, `labels.<key>`, `target`, `annotations`,
 * `annotations.<key>`; others are `invalid_argument`.
 */
export interface ImageStore {
  get(ctx: OpContext, name: string): Promise<Image>;
  list(ctx: OpContext, filters?: readonly string[]): Promise<Image[]>;
  create(ctx: OpContext, image: Omit<Image, 'createdAt' | 'updatedAt'>): Promise<Image>;
  update(
    ctx: OpContext,
    image: Omit<Image, 'createdAt' | 'updatedAt'>,
    fieldpaths?: readonly string[],
  ): Promise<Image>;
  delete(ctx: OpContext, name: string): Promise<void>;
}
