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

/**
 * A gzip layer's compressed bytes go through a ring of SLOTS slots of
 * SLOT_SIZE bytes in a SharedArrayBuffer: the sender copies a piece into a
 * free slot, the worker feeds zlib straight from it and gives the slot back
 * once zlib has consumed it. No buffer is allocated per chunk on either side.
 */
export const SLOTS = 8;
export const SLOT_SIZE = 256 << 10;

export type ToWorker =
  | ({ type: 'start'; id: number; gunzip?: { ring: SharedArrayBuffer } } & ApplyTarget)
  | { type: 'chunk'; id: number; data: ArrayBuffer }
  | { type: 'slice'; id: number; slot: number; length: number }
  | { type: 'end'; id: number }
  | { type: 'abort'; id: number };

export type FromWorker =
  | { type: 'ack'; id: number; slot?: number }
  | { type: 'done'; id: number; stats: LayerStats; tar?: TarDigest }
  | { type: 'error'; id: number; kind: ErrorKind; message: string };

/** The digest and size of the decompressed layer, when the worker decompressed it. */
export interface TarDigest {
  digest: string;
  size: number;
}

export interface ApplyResult {
  stats: LayerStats;
  tar?: TarDigest;
}

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
  readonly #result: Promise<ApplyResult>;
  /** The ring of a gzip Apply (see SLOTS), and its slots the worker has given back. */
  readonly #ring: Uint8Array | undefined;
  readonly #free: number[] = [];
  #inFlight = 0;
  #settled = false;
  #released = false;
  #waiting: (() => void) | undefined;

  /**
   * Starts an Apply into `target`. With `gunzip`, the worker decompresses:
   * send the compressed blob with sendCompressed, and the result carries the
   * tar's digest and size; else send the tar with send.
   */
  constructor(workers: ApplyWorkers, target: ApplyTarget, opts: { gunzip?: boolean } = {}) {
    this.#workers = workers;
    this.#worker = workers.acquire();
    const ring = opts.gunzip ? new SharedArrayBuffer(SLOTS * SLOT_SIZE) : undefined;
    this.#ring = ring && new Uint8Array(ring);
    if (ring) for (let i = 0; i < SLOTS; i++) this.#free.push(i);
    this.#result = new Promise<ApplyResult>((resolve, reject) => {
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
          if (m.slot === undefined) this.#inFlight--;
          else this.#free.push(m.slot);
          this.#wakeSender();
        } else if (m.type === 'done') {
          settle(() => resolve(m.tar ? { stats: m.stats, tar: m.tar } : { stats: m.stats }));
        } else {
          settle(() => reject(newError(m.kind, m.message)));
        }
      });
    });
    this.#result.catch(() => {}); // observed through result()
    this.#worker.post({
      type: 'start',
      id: this.#id,
      ...target,
      ...(ring && { gunzip: { ring } }),
    });
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

  /**
   * Sends compressed bytes through the ring (a gzip Apply), in pieces of at
   * most SLOT_SIZE, each waiting for a free slot. `chunk` is copied: the
   * caller keeps it.
   */
  async sendCompressed(chunk: Uint8Array): Promise<void> {
    const ring = this.#ring;
    if (ring === undefined) throw new Error('apply channel: not a gzip Apply');
    for (let at = 0; at < chunk.length; at += SLOT_SIZE) {
      while (this.#free.length === 0 && !this.#settled) {
        await new Promise<void>((r) => (this.#waiting = r));
      }
      if (this.#settled) return;
      const slot = this.#free.pop()!;
      const piece = chunk.subarray(at, at + SLOT_SIZE);
      ring.set(piece, slot * SLOT_SIZE);
      this.#worker.post({ type: 'slice', id: this.#id, slot, length: piece.length });
    }
  }

  /** No more chunks; resolves with the worker's result. */
  end(): Promise<ApplyResult> {
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
  async result(): Promise<ApplyResult> {
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
