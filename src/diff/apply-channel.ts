/**
 * @module
 * The main thread's side of the apply worker: starts it on a root, sends it
 * the decompressed layer chunk by chunk with at most WINDOW chunks in flight
 * (so memory is bounded by WINDOW × chunk size, whatever the layer holds),
 * and gives back its result. Chunks are copied into fresh buffers that are
 * transferred, so a chunk sharing its ArrayBuffer with others is never
 * detached or cloned whole.
 */
import { Worker } from 'node:worker_threads';
import { type ErrorKind, newError } from '../core/errdefs/index.js';
import type { LayerStats } from './layer-writer.js';

/** Chunks sent but not yet taken by the worker's tar reader. */
export const WINDOW = 8;

export interface WorkerData {
  root: string;
  overlay: boolean;
}

export type ToWorker = { type: 'chunk'; data: ArrayBuffer } | { type: 'end' } | { type: 'abort' };

type FromWorker =
  | { type: 'ack' }
  | { type: 'done'; stats: LayerStats }
  | { type: 'error'; kind: ErrorKind; message: string };

export class ApplyChannel {
  readonly #worker: Worker;
  readonly #result: Promise<LayerStats>;
  #inFlight = 0;
  #settled = false;
  #waiting: (() => void) | undefined;

  constructor(data: WorkerData) {
    this.#worker = startWorker(data);
    this.#result = new Promise<LayerStats>((resolve, reject) => {
      const settle = (fn: () => void) => {
        if (this.#settled) return;
        this.#settled = true;
        fn();
        this.#wakeSender();
      };
      this.#worker.on('message', (m: FromWorker) => {
        if (m.type === 'ack') {
          this.#inFlight--;
          this.#wakeSender();
        } else if (m.type === 'done') {
          settle(() => resolve(m.stats));
        } else {
          settle(() => reject(newError(m.kind, m.message)));
        }
      });
      this.#worker.on('error', (err) => settle(() => reject(err)));
      this.#worker.on('exit', (code) =>
        settle(() => reject(new Error(`apply worker exited (code ${code}) without a result`))),
      );
    });
    this.#result.catch(() => {}); // observed through result()
  }

  /** True once the worker has finished (with a result or an error): stop sending. */
  get settled(): boolean {
    return this.#settled;
  }

  /** Sends one chunk, first waiting while WINDOW chunks are in flight. */
  async send(chunk: Buffer): Promise<void> {
    while (this.#inFlight >= WINDOW && !this.#settled) {
      await new Promise<void>((r) => (this.#waiting = r));
    }
    if (this.#settled) return;
    const copy = new ArrayBuffer(chunk.length);
    new Uint8Array(copy).set(chunk);
    this.#inFlight++;
    this.#worker.postMessage({ type: 'chunk', data: copy } satisfies ToWorker, [copy]);
  }

  /** No more chunks; resolves with the worker's result. */
  end(): Promise<LayerStats> {
    if (!this.#settled) this.#worker.postMessage({ type: 'end' } satisfies ToWorker);
    return this.result();
  }

  /** Stops the worker's reading (it fails, and finishes its current call first); waits for it. */
  async abort(): Promise<void> {
    if (!this.#settled) this.#worker.postMessage({ type: 'abort' } satisfies ToWorker);
    await this.#result.catch(() => {});
  }

  /** The worker's result; the worker has stopped once it settles. */
  async result(): Promise<LayerStats> {
    try {
      return await this.#result;
    } finally {
      await this.#worker.terminate();
    }
  }

  #wakeSender(): void {
    const w = this.#waiting;
    this.#waiting = undefined;
    w?.();
  }
}

/**
 * The worker runs the compiled apply-worker.js next to this module; when
 * berth runs from its TypeScript sources (tests, under tsx), Node 20 does not
 * pass tsx's loader to workers, so the worker registers it first.
 */
function startWorker(data: WorkerData): Worker {
  if (import.meta.url.endsWith('.ts')) {
    const tsx = import.meta.resolve('tsx/esm/api');
    const entry = new URL('./apply-worker.ts', import.meta.url).href;
    const code = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`;
    return new Worker(code, { eval: true, workerData: data });
  }
  return new Worker(new URL('./apply-worker.js', import.meta.url), { workerData: data });
}
