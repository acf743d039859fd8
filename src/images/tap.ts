/**
 * @module
 * A blob's fetch shared with an Apply while it is written: the fetch's
 * chunks are handed to the content writer and, through a bounded queue, to
 * a second reader (the unpack of that layer), so the layer is applied while
 * it downloads.
 *
 * Contract with the reader: the bytes read are not verified; the reader
 * keeps what it made of them only once the fetch has committed the blob
 * (digest and size checked by the content store). A failed fetch fails the
 * reader with the fetch's error. At most {@link TAP_BUFFER} bytes wait in
 * the queue: beyond that the fetch waits for the reader, and the reader
 * waits for the fetch when the queue is empty, so the slower of the two
 * sets the pace and no blob is ever held whole. A reader that stops
 * (`close`) releases the fetch, which goes on into the store alone.
 */
import { canceled } from '../core/errdefs/index.js';

/** The bytes a tap holds for its reader before the fetch waits for it. */
export const TAP_BUFFER = 4 << 20;

/**
 * How the reader gets the blob: `stream` from this tap (the fetch writes it
 * from its first byte), or `store` once it is committed (it was there, or
 * another fetch wrote it, or this one resumed a partial ingest: the tap
 * would miss its head).
 */
export type TapMode = 'stream' | 'store';

export class BlobTap {
  readonly #limit: number;
  #queue: Uint8Array[] = [];
  #queued = 0;
  #ended = false;
  #failure: { err: unknown } | undefined;
  #closed = false;
  #wakeReader: (() => void) | undefined;
  #wakeWriter: (() => void) | undefined;
  #decide!: (m: TapMode) => void;
  #decided = false;
  /** Settles once the fetch knows whether it streams its blob through this tap. */
  readonly mode: Promise<TapMode>;

  constructor(limit = TAP_BUFFER) {
    this.#limit = limit;
    this.mode = new Promise((resolve) => {
      this.#decide = resolve;
    });
  }

  /** Fetch side: the blob's bytes from its first will come through {@link push}. */
  start(): void {
    this.#settle('stream');
  }

  /** Fetch side: no bytes will come; the reader reads the store (a no-op once started). */
  decline(): void {
    this.#settle('store');
  }

  #settle(m: TapMode): void {
    if (this.#decided) return;
    this.#decided = true;
    this.#decide(m);
  }

  /** Fetch side: queues `chunk` for the reader; resolves once the queue is under its bound (or the reader is gone). */
  async push(chunk: Uint8Array): Promise<void> {
    if (this.#closed || this.#ended || this.#failure) return;
    this.#queue.push(chunk);
    this.#queued += chunk.length;
    this.#wake();
    while (this.#queued > this.#limit && !this.#closed) {
      await new Promise<void>((resolve) => {
        this.#wakeWriter = resolve;
      });
    }
  }

  /** Fetch side: every byte of the blob was pushed. */
  end(): void {
    this.#ended = true;
    this.#wake();
  }

  /** Fetch side: the fetch failed or stopped; the reader fails with `err`. */
  fail(err: unknown): void {
    if (this.#ended || this.#failure) return;
    this.#failure = { err };
    this.#wake();
  }

  /** Reader side: the reader is gone; queued bytes are dropped and the fetch no longer waits. */
  close(): void {
    this.#closed = true;
    this.#queue = [];
    this.#queued = 0;
    this.#settle('store');
    this.#wake();
  }

  /** Reader side: the blob's bytes, once; stops with the fetch's error if it fails. */
  async *read(): AsyncGenerator<Uint8Array, void, undefined> {
    try {
      for (;;) {
        if (this.#closed) throw canceled('blob tap: read after close');
        const chunk = this.#queue.shift();
        if (chunk !== undefined) {
          this.#queued -= chunk.length;
          if (this.#queued <= this.#limit) this.#wakeWriterNow();
          yield chunk;
          continue;
        }
        if (this.#failure) throw this.#failure.err;
        if (this.#ended) return;
        await new Promise<void>((resolve) => {
          this.#wakeReader = resolve;
        });
      }
    } finally {
      this.close();
    }
  }

  #wakeWriterNow(): void {
    const w = this.#wakeWriter;
    this.#wakeWriter = undefined;
    w?.();
  }

  #wake(): void {
    const r = this.#wakeReader;
    this.#wakeReader = undefined;
    r?.();
    if (this.#closed) this.#wakeWriterNow();
  }
}

/**
 * `source` passed through, each chunk also pushed to `tap` first (waiting
 * while the tap is full); the tap ends with the source, or fails with its
 * error, or with `cancelled` when the consumer of `source` stops early.
 */
export async function* teed(
  source: AsyncIterable<Buffer>,
  tap: BlobTap,
): AsyncGenerator<Buffer, void, undefined> {
  let done = false;
  try {
    for await (const chunk of source) {
      await tap.push(chunk);
      yield chunk;
    }
    done = true;
    tap.end();
  } catch (err) {
    tap.fail(err);
    throw err;
  } finally {
    if (!done) tap.fail(canceled('the blob fetch stopped before its end'));
  }
}
