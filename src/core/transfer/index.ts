/**
 * @module transfer
 * What image operations (pull, push, import, export, unpack) report while
 * they run, in the shape of containerd 1.7's `containerd.types.transfer.Progress`
 * so the Transfer service can forward it unchanged, and what they run
 * against: the stores of one daemon, local or reached through the client's
 * proxies.
 */
import type { ContentStore, Descriptor } from '../content/index.js';
import type { Applier } from '../diff/index.js';
import type { ImageStore } from '../images/index.js';
import type { LeaseManager } from '../leases/index.js';
import type { Snapshotter } from '../snapshots/index.js';

/**
 * containerd's progress events: `resolving`, `resolved`, `waiting`,
 * `downloading`, `downloaded` (alias `complete` in ctr's table), `exists`,
 * `unpacking`, `unpacked`, `uploading`, `pushed`, `saved`, … Byte counts are
 * for the blob named (a digest) or for the whole operation (a reference).
 */
export interface Progress {
  event: string;
  /** A reference, or a blob's digest. */
  name: string;
  /** Names of what this is part of (the manifest a layer belongs to). */
  parents?: string[];
  progress: number;
  total: number;
  desc?: Descriptor;
}

export type ProgressFn = (p: Progress) => void;

/**
 * The stores an image operation works on, all in the namespace and lease of
 * the OpContext passed with each call. In berthd these are the metadata
 * (namespaced) stores; in the client, gRPC proxies to them.
 */
export interface ImageStores {
  content: ContentStore;
  images: ImageStore;
  leases: LeaseManager;
  /** The snapshotter of that name; throws `not_found` for an unknown one. */
  snapshotter(name: string): Snapshotter;
  applier: Applier;
}

export * from './request.js';
export * from './streams.js';
