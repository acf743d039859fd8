/**
 * @module
 * Per-blob progress as containerd 1.7's transfer progress tracker reports it:
 * `waiting` when a blob is queued, `<state>` (`downloading`, `uploading`)
 * with the bytes done at most every 300 ms, `complete` at the end, `already
 * exists` for a blob that was there. Names are the blobs' ref keys
 * (`layer-sha256:…`), parents those of the blobs that led to them.
 */
import type { Descriptor } from '../core/content/index.js';
import type { ProgressFn } from '../core/transfer/index.js';
import { refKey } from './media-types.js';

const INTERVAL_MS = 300;

export class BlobProgress {
  readonly #fn: ProgressFn | undefined;
  readonly #state: string;

  constructor(fn: ProgressFn | undefined, state: string) {
    this.#fn = fn;
    this.#state = state;
  }

  /** Reports a blob queued, and returns its reporter. */
  blob(desc: Descriptor, parents: readonly string[]): BlobReporter {
    return new BlobReporter(this.#fn, this.#state, desc, [...parents]);
  }

  event(event: string, name: string, progress = 0, total = 0, desc?: Descriptor): void {
    this.#fn?.({ event, name, progress, total, ...(desc && { desc }) });
  }
}

export class BlobReporter {
  readonly name: string;
  #last = 0;

  constructor(
    private readonly fn: ProgressFn | undefined,
    private readonly state: string,
    private readonly desc: Descriptor,
    private readonly parents: string[],
  ) {
    this.name = refKey(desc);
    this.#emit('waiting', 0);
  }

  #emit(event: string, progress: number): void {
    this.fn?.({
      event,
      name: this.name,
      parents: this.parents,
      progress,
      total: this.desc.size,
      desc: this.desc,
    });
  }

  bytes(n: number): void {
    if (!this.fn) return;
    const now = Date.now();
    if (now - this.#last < INTERVAL_MS) return;
    this.#last = now;
    this.#emit(this.state, n);
  }

  done(existed: boolean): void {
    this.#emit(existed ? 'already exists' : 'complete', this.desc.size);
  }
}
