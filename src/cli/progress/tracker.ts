/**
 * @module
 * Folds the progress events of a pull, push, load or save into per-blob
 * state. The events come from the client library (src/images through
 * `onProgress`) or, for `remote: true` pulls, from berthd's Transfer service:
 *
 * - blobs are named by containerd's ref key (`layer-sha256:…`,
 *   `manifest-<ref name>@sha256:…`) and go `waiting` → `downloading` or
 *   `uploading` (bytes done so far) → `complete` or `already exists`;
 * - unpacking names a layer by its bare digest in the client and by its ref
 *   key through the daemon: `unpacking` (which may come before the layer's
 *   download has started: the unpack waits for it) → `unpacked`;
 * - an import reports `skipped` for a blob of a platform not in the archive;
 * - events about the whole operation carry a reference (`resolving`,
 *   `resolved`, `pushing content`, `saved`, `fetching image content`) or no
 *   name at all (the daemon's status lines: `Pulling from OCI Registry (…)`,
 *   `Importing`, `Completed export`).
 *
 * A blob is keyed by its digest, so both namings of one layer meet.
 */
import type { Progress } from '../../core/transfer/index.js';

export type BlobKind = 'layer' | 'config' | 'manifest' | 'index' | 'unknown';

/** What a blob row shows, in the order a blob normally goes through them. */
export type BlobState =
  | 'waiting'
  | 'downloading'
  | 'uploading'
  | 'downloaded'
  | 'unpacking'
  | 'done'
  | 'already exists'
  | 'skipped'
  | 'failed';

export interface Blob {
  digest: string;
  kind: BlobKind;
  /** Bytes moved so far (the whole size once complete, 0 for a blob that existed). */
  progress: number;
  total: number;
  transfer: 'waiting' | 'moving' | 'complete' | 'exists' | 'skipped' | undefined;
  unpack: 'unpacking' | 'unpacked' | undefined;
  failed: boolean;
}

export type Direction = 'pull' | 'push';

const REF_KEY =
  /^(layer|config|manifest|index|unknown)-(?:.*@)?([a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+)$/;
const DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-f0-9]{32,}$/;

/** The digest and kind a blob event names, or undefined for an event about something else. */
export function parseBlobName(p: Progress): { digest: string; kind: BlobKind } | undefined {
  const m = REF_KEY.exec(p.name);
  if (m) return { kind: m[1] as BlobKind, digest: m[2]! };
  if (DIGEST.test(p.name)) return { digest: p.name, kind: kindOf(p.desc?.mediaType) };
  return undefined;
}

function kindOf(mediaType: string | undefined): BlobKind {
  if (mediaType === undefined) return 'layer';
  if (mediaType.includes('.layer.') || mediaType.includes('.rootfs.')) return 'layer';
  if (mediaType.includes('manifest.list') || mediaType.includes('image.index')) return 'index';
  if (mediaType.includes('manifest')) return 'manifest';
  if (mediaType.includes('config') || mediaType.includes('container.image')) return 'config';
  return 'unknown';
}

/** The 12 hex digits docker shows for a digest. */
export function shortDigest(digest: string): string {
  const i = digest.indexOf(':');
  return digest.slice(i + 1, i + 13);
}

export class Tracker {
  /** Blobs by digest, in the order they were first reported. */
  readonly blobs = new Map<string, Blob>();
  direction: Direction = 'pull';
  /** The latest line about the whole operation (`Pulling from OCI Registry (ref)`, `resolving ref`). */
  status = '';
  /** Names of the images saved (pull, load). */
  readonly saved: string[] = [];
  /** When the first event came (undefined before it). */
  started: number | undefined;

  /**
   * Takes one event; returns the blob it changed, or undefined when the event
   * was about the whole operation (then `status` may have changed).
   */
  update(p: Progress, now: number): Blob | undefined {
    this.started ??= now;
    const named = parseBlobName(p);
    if (named === undefined) {
      this.#operation(p);
      return undefined;
    }
    let b = this.blobs.get(named.digest);
    if (b === undefined) {
      b = {
        digest: named.digest,
        kind: named.kind,
        progress: 0,
        total: 0,
        transfer: undefined,
        unpack: undefined,
        failed: false,
      };
      this.blobs.set(named.digest, b);
    } else if (
      b.kind === 'unknown' ||
      (b.kind === 'layer' && named.kind !== 'layer' && named.kind !== 'unknown')
    ) {
      b.kind = named.kind;
    }
    if (p.total > 0) b.total = p.total;
    switch (p.event) {
      case 'waiting':
        b.transfer ??= 'waiting';
        break;
      case 'downloading':
      case 'uploading':
        if (p.event === 'uploading') this.direction = 'push';
        if (b.transfer !== 'complete' && b.transfer !== 'exists') b.transfer = 'moving';
        b.progress = Math.max(b.progress, p.progress);
        break;
      case 'complete':
      case 'downloaded':
      case 'pushed':
        b.transfer = 'complete';
        b.progress = b.total > 0 ? b.total : p.progress;
        break;
      case 'already exists':
      case 'exists':
        b.transfer = 'exists';
        b.progress = 0;
        break;
      case 'skipped':
        b.transfer = 'skipped';
        break;
      case 'unpacking':
        b.unpack ??= 'unpacking';
        break;
      case 'unpacked':
        b.unpack = 'unpacked';
        break;
    }
    return b;
  }

  #operation(p: Progress): void {
    if (p.event.startsWith('Pushing') || p.event === 'pushing content') this.direction = 'push';
    switch (p.event) {
      case 'saved':
        if (p.name !== '') this.saved.push(p.name);
        return;
      case 'resolving':
        this.status = `resolving ${p.name}`;
        return;
      case 'resolved':
        this.status = `pulling ${p.name}`;
        return;
      case 'pushing content':
        this.status = `pushing ${p.name}`;
        return;
      case 'pushed content':
        this.status = `pushed ${p.name}`;
        return;
    }
    // The daemon's status lines (`Pulling from OCI Registry (…)`, `Importing`) have no name.
    if (p.name === '') this.status = p.event;
  }

  /** What a blob's row shows now. */
  state(b: Blob): BlobState {
    if (b.failed) return 'failed';
    if (b.unpack === 'unpacked') return 'done';
    if (b.transfer === 'moving') return this.direction === 'push' ? 'uploading' : 'downloading';
    if (b.transfer === 'skipped') return 'skipped';
    if (
      b.unpack === 'unpacking' &&
      (b.transfer === 'complete' || b.transfer === 'exists' || b.transfer === undefined)
    ) {
      return 'unpacking';
    }
    if (b.transfer === 'exists') return 'already exists';
    if (b.transfer === 'complete') return this.direction === 'push' ? 'done' : 'downloaded';
    return 'waiting';
  }

  /** The blobs shown one per row: layers (and blobs of no known kind, say an artifact's). */
  rows(): Blob[] {
    return [...this.blobs.values()].filter((b) => b.kind === 'layer' || b.kind === 'unknown');
  }

  /** Bytes moved and bytes to move, over every blob (manifests and configs too) that did not exist. */
  totals(): { done: number; total: number } {
    let done = 0;
    let total = 0;
    for (const b of this.blobs.values()) {
      if (b.transfer === 'exists' || b.transfer === 'skipped') continue;
      done += b.progress;
      total += Math.max(b.total, b.progress);
    }
    return { done, total };
  }

  /**
   * Marks every blob not finished as failed. A downloaded layer is finished
   * unless the operation unpacks (some layer reported unpacking).
   */
  fail(): void {
    const unpacks = [...this.blobs.values()].some((b) => b.unpack !== undefined);
    for (const b of this.blobs.values()) {
      const s = this.state(b);
      if (s === 'done' || s === 'already exists' || s === 'skipped') continue;
      if (s === 'downloaded' && !unpacks) continue;
      b.failed = true;
    }
  }

  /** `pulled 5 layers (2 already existed), 12.3 MB in 1.2 s (10.1 MB/s)`, or '' when no blob was seen. */
  summary(
    now: number,
    fmt: {
      size: (n: number) => string;
      rate: (n: number) => string;
      duration: (ms: number) => string;
    },
  ): string {
    const rows = this.rows();
    if (rows.length === 0 && this.blobs.size === 0) return '';
    const existed = rows.filter((b) => b.transfer === 'exists').length;
    const elapsed = now - (this.started ?? now);
    const { done } = this.totals();
    const verb = this.direction === 'push' ? 'pushed' : 'pulled';
    const noun = rows.length === 1 ? 'layer' : 'layers';
    const ex = existed > 0 ? ` (${existed} already existed)` : '';
    const rate = elapsed > 0 ? ` (${fmt.rate((done * 1000) / elapsed)})` : '';
    return `${verb} ${rows.length} ${noun}${ex}, ${fmt.size(done)} in ${fmt.duration(elapsed)}${rate}`;
  }
}
