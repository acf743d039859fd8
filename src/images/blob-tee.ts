/**
 * @module
 * A layer blob's bytes handed to its unpack while they download: the fetch
 * writes each chunk to the content store and also pushes it here, and the
 * applier reads from here instead of waiting for the blob to be committed
 * and reading it back. The first layer of a pull is otherwise applied only
 * once its whole blob is in (0.3-0.5 s for the 5-layer bench image's 20 MiB
 * bottom layer fetched beside two others), with the applier idle meanwhile.
 *
 * The consumer is not trusted with the blob's verification: the fetch still
 * checks digest and size at commit, and the unpack commits the snapshot only
 * once the fetch has succeeded. When no bytes will flow here (the blob was
 * already there, another pull of this process or namespace writes it, a
 * partial ingest is resumed from an offset), the tee falls back: the
 * consumer waits for the blob to be committed and reads it from the store.
 *
 * Memory is bounded: the producer waits while HIGH_WATER bytes are queued,
 * so the download of that layer goes at the applier's pace; once the
 * consumer has gone (finished or failed), pushes are dropped.
 */

/** Bytes queued for the consumer before the producer waits. */
export const HIGH_WATER = 4 << 20;

export interface BlobTeeFallback {
  /** Resolves once the blob is committed (rejects when its fetch failed). */
  committed(): Promise<void>;
  /** The committed blob's bytes. */
  read(): AsyncIterable<Buffer>;
}

export class BlobTee {
  readonly #fallback: BlobTeeFallback;
  readonly #queue: Buffer[] = [];
  #queued = 0;
  #pushed = false;
  #ended = false;
  #fellBack = false;
  #failure: { error: unknown } | undefined;
  #detached = false;
  #consumed = false;
  #wakeConsumer: (() => void) | undefined;
  #wakeProducer: (() => void) | undefined;

  constructor(fallback: BlobTeeFallback) {
    this.#fallback = fallback;
  }

  /** Passes `chunks` (the blob from offset 0) through, pushing each to the consumer. */
  async *pipe(chunks: AsyncIterable<Buffer>): AsyncGenerator<Buffer, void, undefined> {
    for await (const chunk of chunks) {
      await this.#push(chunk);
      yield chunk;
    }
    this.#ended = true;
    this.#wake();
  }

  /** No bytes will be pushed: the consumer reads the committed blob. */
  fallback(): void {
    if (this.#pushed) {
      this.fail(new Error('the blob download restarted after its unpack began reading it'));
      return;
    }
    this.#fellBack = true;
    this.#wake();
  }

  /** The download failed: so does the consumer's read. */
  fail(error: unknown): void {
    this.#failure ??= { error };
    this.#wake();
  }

  /** The consumer will not read (any more): pushes are dropped from now on. */
  close(): void {
    this.#detached = true;
    this.#queue.length = 0;
    this.#queued = 0;
    this.#wakeProducer?.();
  }

  /** The blob's bytes from its start; read once. */
  async *read(): AsyncGenerator<Buffer, void, undefined> {
    if (this.#consumed) throw new Error('a blob tee is read once');
    this.#consumed = true;
    try {
      for (;;) {
        const chunk = this.#queue.shift();
        if (chunk !== undefined) {
          this.#queued -= chunk.length;
          this.#wakeProducer?.();
          yield chunk;
          continue;
        }
        if (this.#failure) throw this.#failure.error;
        if (this.#ended) return;
        if (this.#fellBack) {
          await this.#fallback.committed();
          yield* this.#fallback.read();
          return;
        }
        await new Promise<void>((r) => (this.#wakeConsumer = r));
        this.#wakeConsumer = undefined;
      }
    } finally {
      this.close();
    }
  }

  async #push(chunk: Buffer): Promise<void> {
    if (this.#detached) return;
    this.#pushed = true;
    this.#queue.push(chunk);
    this.#queued += chunk.length;
    this.#wakeConsumer?.();
    while (this.#queued > HIGH_WATER && !this.#detached) {
      await new Promise<void>((r) => (this.#wakeProducer = r));
      this.#wakeProducer = undefined;
    }
  }

  #wake(): void {
    this.#wakeConsumer?.();
  }
}
