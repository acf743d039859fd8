/**
 * @module
 * The apply workers: threads started on first use and reused, one Apply at
 * a time each. A fresh worker is a V8 isolate plus its module graph (about
 * 0.1 s and 12–20 MiB); one per Apply made every layer of a pull pay that.
 * A worker that finished an Apply waits for the next; idle ones are
 * stopped after IDLE_MS, so an idle daemon holds none. A worker that dies
 * (crash, exit) is dropped; the Apply it served fails.
 */
import { Worker } from 'node:worker_threads';
import type { FromWorker, ToWorker } from './apply-channel.js';

/**
 * How long an idle worker is kept for the next Apply. The layers of a pull
 * come back to back, but the reason for a whole minute is the worker's
 * warm-up: a fresh isolate has its tar reader and layer writer compiled
 * again by V8's optimizing compiler while it applies, about 0.3 s of CPU on
 * V8's background threads per pull of the 5-layer image, plus its start
 * (bench/README.md "Pull through Transfer": a pull's daemon CPU 1.8 s with a
 * fresh worker, 1.2-1.35 s with a warm one). Kept for a minute, the pulls of
 * a deployment or a CRI sandbox's images find it warm; an idle daemon gives
 * its 12-20 MiB back a minute after its last unpack.
 */
export const IDLE_MS = 60_000;

/** Idle workers kept at most; more only while Applies run at the same time. */
const MAX_IDLE = 1;

/** What the Apply being served hears: the worker's messages, or that it died. */
export type WorkerEvent = FromWorker | { type: 'died'; error: Error };

export class ApplyWorker {
  readonly #worker: Worker;
  #listener: ((e: WorkerEvent) => void) | undefined;
  #dead = false;

  constructor() {
    this.#worker = startWorker();
    this.#worker.on('message', (m: FromWorker) => this.#listener?.(m));
    this.#worker.on('error', (error) => this.#die(error));
    this.#worker.on('exit', (code) =>
      this.#die(new Error(`apply worker exited (code ${code}) without a result`)),
    );
  }

  get dead(): boolean {
    return this.#dead;
  }

  /** Routes this worker's messages to `fn` (the Apply it serves), or to nobody. */
  listen(fn: ((e: WorkerEvent) => void) | undefined): void {
    this.#listener = fn;
  }

  post(m: ToWorker, transfer?: ArrayBuffer[]): void {
    if (!this.#dead) this.#worker.postMessage(m, transfer);
  }

  /** An idle worker does not keep the daemon's event loop alive. */
  setBusy(busy: boolean): void {
    if (busy) this.#worker.ref();
    else this.#worker.unref();
  }

  async terminate(): Promise<void> {
    this.#dead = true;
    this.#listener = undefined;
    await this.#worker.terminate();
  }

  #die(error: Error): void {
    if (this.#dead) return;
    this.#dead = true;
    this.#listener?.({ type: 'died', error });
  }
}

export class ApplyWorkers {
  readonly #idle: ApplyWorker[] = [];
  readonly #idleMs: number;
  #timer: NodeJS.Timeout | undefined;
  #started = 0;

  constructor(opts: { idleMs?: number } = {}) {
    this.#idleMs = opts.idleMs ?? IDLE_MS;
  }

  /** An idle worker, or a new one. */
  acquire(): ApplyWorker {
    let w = this.#idle.pop();
    while (w?.dead) w = this.#idle.pop();
    if (w === undefined) {
      w = new ApplyWorker();
      this.#started++;
    }
    w.setBusy(true);
    return w;
  }

  /**
   * Starts a worker now, when none is idle, for an Apply about to come (a
   * worker takes 0.1-0.2 s to boot: started while the caller still fetches
   * the layer, it is ready when the layer is). Kept as an idle one.
   */
  warm(): void {
    if (this.#idle.some((w) => !w.dead)) return;
    const w = new ApplyWorker();
    this.#started++;
    this.release(w);
  }

  /** Gives back a worker whose Apply has settled. */
  release(w: ApplyWorker): void {
    w.listen(undefined);
    if (w.dead) return;
    if (this.#idle.length >= MAX_IDLE) {
      void w.terminate();
      return;
    }
    w.setBusy(false);
    this.#idle.push(w);
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.close(), this.#idleMs);
    this.#timer.unref();
  }

  /** Workers started so far. */
  get started(): number {
    return this.#started;
  }

  /** Workers waiting for an Apply. */
  get idle(): number {
    return this.#idle.length;
  }

  /** Stops the idle workers (busy ones are stopped when their Apply gives them back). */
  async close(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const idle = this.#idle.splice(0);
    await Promise.all(idle.map((w) => w.terminate()));
  }
}

/**
 * The worker runs the compiled apply-worker.js next to this module; when
 * berth runs from its TypeScript sources (tests, under tsx), Node 20 does not
 * pass tsx's loader to workers, so the worker registers it first.
 */
function startWorker(): Worker {
  if (import.meta.url.endsWith('.ts')) {
    const tsx = import.meta.resolve('tsx/esm/api');
    const entry = new URL('./apply-worker.ts', import.meta.url).href;
    const code = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`;
    return new Worker(code, { eval: true });
  }
  return new Worker(new URL('./apply-worker.js', import.meta.url));
}
