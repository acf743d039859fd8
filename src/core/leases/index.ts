/**
 * @module leases
 * A lease holds resources (content, ingests, snapshots) against garbage
 * collection while a client works with them, e.g. during a pull. Calls that
 * carry the `containerd-lease` header add what they create to that lease.
 */
import type { Labels } from '../labels/index.js';
import type { OpContext } from '../namespaces/index.js';

/** The label that makes a lease expire (RFC 3339 time). */
export const LEASE_EXPIRE_LABEL = 'containerd.io/gc.expire';
/** Resource types a lease can hold (`snapshots/<snapshotter>` for snapshots). */
export const RESOURCE_CONTENT = 'content';
export const RESOURCE_INGESTS = 'ingests';

export interface Lease {
  id: string;
  /** Nanoseconds since the epoch. */
  createdAt: bigint;
  labels: Labels;
}

export interface LeaseResource {
  /** A digest, an ingest ref, or a snapshot key. */
  id: string;
  /** `content`, `ingests` or `snapshots/<snapshotter>`. */
  type: string;
}

/**
 * Leases in the context's namespace. `create` throws `already_exists` for a
 * taken id and `invalid_argument` for an empty or invalid one; `delete`,
 * `addResource`, `deleteResource` and `listResources` throw `not_found` for
 * an unknown lease.
 */
export interface LeaseManager {
  create(ctx: OpContext, lease: { id: string; labels?: Labels }): Promise<Lease>;
  /** With `sync`, garbage collection has run when the promise resolves. */
  delete(ctx: OpContext, id: string, opts?: { sync?: boolean }): Promise<void>;
  list(ctx: OpContext, filters?: readonly string[]): Promise<Lease[]>;
  addResource(ctx: OpContext, id: string, resource: LeaseResource): Promise<void>;
  deleteResource(ctx: OpContext, id: string, resource: LeaseResource): Promise<void>;
  listResources(ctx: OpContext, id: string): Promise<LeaseResource[]>;
}
