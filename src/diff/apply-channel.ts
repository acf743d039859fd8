/**
 * @module
 * The main thread's side of one Apply in an apply worker (apply-workers.ts):
 * starts it on a root, sends it the decompressed layer chunk by chunk with at
 * most WINDOW chunks in flight (so memory is bounded by WINDOW × chunk size,
 * whatever the layer holds), and gives back its result and then the worker.
 * A chunk that is all of its ArrayBuffer is transferred as it is; others are
 * copied into fresh buffers that are transferred, so a chunk sharing its
 * ArrayBuffer with others is never detached or cloned whole. The sender
 * gives up the chunks it sends (see ownedBuffer).
 */
import { type ErrorKind, newError } from '../core/errdefs/index.js';
import type { ApplyWorker, ApplyWorkers, WorkerEvent } from './apply-workers.js';
import type { LayerStats } from './layer-writer.js';

/** Chunks sent but not yet taken by the worker's tar reader. */
export const WINDOW = 8;

export interface ApplyTarget {
  root: string;
  overlay: boolean;
  /** `root` is an overlay upperdir over these lowerdirs (see LayerWriterOptions.lowers). */
  lowers?: string[];
}

export type ToWorker =
  | ({ type: 'start'; id: number } & ApplyTarget)
  | { type: 'chunk'; id: number; data: ArrayBuffer }
  | { type: 'end'; id: number }
  | { type: 'abort'; id: number };

export type FromWorker =
  | { type: 'ack'; id: number }
  | { type: 'done'; id: number; stats: LayerStats }
  | { type: 'error'; id: number; kind: ErrorKind; message: string };

let nextId = 0;

/**
 * The chunk's bytes in an ArrayBuffer that can be transferred: its own
 * when the chunk spans all of it, else a copy. A codec's output chunk that
 * fills its output buffer is the whole of it (zlib starts a new buffer once
 * one is full, and never writes the old one again); a partial one shares
 * its buffer with the next chunk, and a pooled Buffer with others, so those
 * are copied. Whole ones are moved to the worker without a copy or an
 * allocation (the decompressed layer is most of the pull's allocations).
 * Only for chunks the sender will not touch again (the worker owns them).
 */
function ownedBuffer(chunk: Buffer): ArrayBuffer {
  const ab = chunk.buffer;
  if (
    ab instanceof ArrayBuffer &&
    chunk.byteOffset === 0 &&
    chunk.byteLength === ab.byteLength &&
    chunk.byteLength >= TRANSFER_MIN
  ) {
    return ab;
  }
  return copyOf(chunk);
}

function copyOf(chunk: Buffer): ArrayBuffer {
  const copy = new ArrayBuffer(chunk.length);
  new Uint8Array(copy).set(chunk);
  return copy;
}

/** Smaller chunks are copied: they may come from Buffer's shared pool (4 KiB or less). */
const TRANSFER_MIN = 64 << 10;

export class ApplyChannel {
  readonly #workers: ApplyWorkers;
  readonly #worker: ApplyWorker;
  readonly #id = ++nextId;
  readonly #result: Promise<LayerStats>;
  #inFlight = 0;
  #settled = false;
  #released = false;
  #waiting: (() => void) | undefined;

  constructor(workers: ApplyWorkers, target: ApplyTarget) {
    this.#workers = workers;
    this.#worker = workers.acquire();
    this.#result = new Promise<LayerStats>((resolve, reject) => {
      const settle = (fn: () => void) => {
        if (this.#settled) return;
        this.#settled = true;
        fn();
        this.#wakeSender();
      };
      this.#worker.listen((m: WorkerEvent) => {
        if (m.type === 'died') {
          settle(() => reject(m.error));
          return;
        }
        if (m.id !== this.#id) return;
        if (m.type === 'ack') {
          this.#inFlight--;
          this.#wakeSender();
        } else if (m.type === 'done') {
          settle(() => resolve(m.stats));
        } else {
          settle(() => reject(newError(m.kind, m.message)));
        }
      });
    });
    this.#result.catch(() => {}); // observed through result()
    this.#worker.post({ type: 'start', id: this.#id, ...target });
  }

  /** True once the worker has finished (with a result or an error): stop sending. */
  get settled(): boolean {
    return this.#settled;
  }

  /**
   * Sends one chunk, first waiting while WINDOW chunks are in flight. An
   * `owned` chunk (nobody else holds it: a codec's output) may be detached
   * and moved to the worker; others are copied.
   */
  async send(chunk: Buffer, owned = false): Promise<void> {
    while (this.#inFlight >= WINDOW && !this.#settled) {
      await new Promise<void>((r) => (this.#waiting = r));
    }
    if (this.#settled) return;
    const data = owned ? ownedBuffer(chunk) : copyOf(chunk);
    this.#inFlight++;
    this.#worker.post({ type: 'chunk', id: this.#id, data }, [data]);
  }

  /** No more chunks; resolves with the worker's result. */
  end(): Promise<LayerStats> {
    if (!this.#settled) this.#worker.post({ type: 'end', id: this.#id });
    return this.result();
  }

  /** Stops the worker's reading (it fails, and finishes its current call first); waits for it. */
  async abort(): Promise<void> {
    if (!this.#settled) this.#worker.post({ type: 'abort', id: this.#id });
    await this.#result.catch(() => {});
    this.#release();
  }

  /** The worker's result; the worker is given back once it settles. */
  async result(): Promise<LayerStats> {
    try {
      return await this.#result;
    } finally {
      this.#release();
    }
  }

  #release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#workers.release(this.#worker);
  }

  #wakeSender(): void {
    const w = this.#waiting;
    this.#waiting = undefined;
    w?.();
  }
}
