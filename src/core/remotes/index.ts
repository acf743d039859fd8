/**
 * @module remotes
 * The registry contracts, as containerd's `remotes` package names them: a
 * Resolver turns a reference into the descriptor of its root (an index or a
 * manifest) and hands out a Fetcher and a Pusher for that reference's
 * repository. The domain's image operations (pull, push) are written against
 * these; `src/remotes` implements them for OCI distribution / Docker registry
 * v2, and tests may implement them over a directory.
 *
 * Errors use the core vocabulary and name the host, the operation and the
 * reason: `not_found` (no such manifest or blob), `unauthenticated` /
 * `permission_denied` (401 / 403), `unavailable` (connection failures and
 * 5xx once the retries are spent), `failed_precondition` (a digest or size
 * that does not match what the descriptor promised).
 */
import type { Descriptor } from '../content/index.js';

export interface RemoteOptions {
  /** Cancels the operation (and its in-flight HTTP requests). */
  signal?: AbortSignal;
}

export interface Resolved {
  /** The normalized reference (`docker.io/library/busybox:latest`, `host/repo@sha256:…`). */
  name: string;
  /** The root: an index, manifest list or manifest, with its media type from the registry. */
  desc: Descriptor;
}

export interface Resolver {
  /** Resolves a tag or digest reference (containerd's `Resolve`). */
  resolve(ref: string, opts?: RemoteOptions): Promise<Resolved>;
  /** A fetcher for blobs and manifests of `ref`'s repository. */
  fetcher(ref: string): Promise<Fetcher>;
  /** A pusher to `ref`'s repository; a manifest pushed with `ref`'s tag tags it. */
  pusher(ref: string): Promise<Pusher>;
}

export interface FetchOptions extends RemoteOptions {
  /** First byte wanted (resuming a partial ingest); default 0. */
  offset?: number;
  /**
   * Hash the bytes and check them against `desc.digest` (default true).
   * false only where the bytes go into an ingest committed with the expected
   * digest, which checks it before the blob is visible: the blob is then
   * hashed once, not twice. The size is checked either way.
   */
  verify?: boolean;
}

export interface Fetcher {
  /**
   * Streams `desc`'s bytes in bounded chunks (never the whole blob in
   * memory). Size and digest are verified while reading: the iterable throws
   * `failed_precondition` when they do not match `desc` (when `offset` > 0 or
   * `verify` is false only the size is checked here; the ingest verifies the
   * digest at commit).
   * An interrupted transfer is resumed with `Range` before the iterable gives up.
   */
  fetch(desc: Descriptor, opts?: FetchOptions): AsyncIterable<Buffer>;
}

export interface PushOptions extends RemoteOptions {
  /**
   * Repositories (same host) that may already hold the blob: the pusher tries
   * a cross-repository mount from them before uploading.
   */
  mountFrom?: readonly string[];
}

export interface Pusher {
  /**
   * Pushes one blob or manifest (manifests and indexes by their media type,
   * under the reference's tag when `desc` is the root, else by digest).
   * Returns `false` without uploading when the registry already has it.
   * `data` may be called again for a retry; each call starts from byte 0.
   */
  push(desc: Descriptor, data: () => AsyncIterable<Buffer>, opts?: PushOptions): Promise<boolean>;
}
