import { resourceExhausted } from '../core/errdefs/index.js';
import type { Envelope } from '../core/events/index.js';
import type { Filter } from '../core/filters/index.js';

/** How much one subscriber may have queued before it is disconnected. */
export interface QueueLimits {
  /** Envelopes waiting to be read. */
  readonly maxEvents: number;
  /** Their estimated size in bytes ({@link envelopeSize}). */
  readonly maxBytes: number;
}

/**
 * The memory an envelope holds, roughly: the payload, the strings, and a
 * fixed allowance for the objects around them.
 */
export function envelopeSize(envelope: Envelope): number {
  return (
    envelope.event.value.byteLength +
    envelope.event.typeUrl.length +
    envelope.topic.length +
    envelope.namespace.length +
    ENVELOPE_OVERHEAD
  );
}
const ENVELOPE_OVERHEAD = 96;

interface Entry {
  readonly envelope: Envelope;
  readonly size: number;
}

type State = 'open' | 'ended' | 'failed';

/**
 * One subscriber's bounded queue, read as an async iterator. The exchange
 * pushes synchronously and never waits; the reader pulls. When a push would
 * go past the limits the subscriber is disconnected: the queue is dropped at
 * once (so memory is freed now, not when the reader catches up) and the next
 * read throws `resource_exhausted`. Aborting the signal, `return()` (a
 * `break` out of `for await`) or {@link end} end iteration cleanly.
 *
 * Single-consumer: `[Symbol.asyncIterator]()` returns the subscription
 * itself.
 */
export class Subscription implements AsyncIterableIterator<Envelope> {
  private entries: Entry[] = [];
  private head = 0;
  private bytes = 0;
  private state: State = 'open';
  private error: Error | undefined;
  private waiter:
    | { resolve: (r: IteratorResult<Envelope>) => void; reject: (e: unknown) => void }
    | undefined;
  private readonly onAbort = () => this.end();

  constructor(
    readonly filter: Filter,
    private readonly limits: QueueLimits,
    private readonly signal: AbortSignal,
    /** Called once when the subscription ends or fails, to unregister it. */
    private readonly onClose: (sub: Subscription, error?: Error) => void,
  ) {
    if (signal.aborted) {
      this.state = 'ended';
    } else {
      signal.addEventListener('abort', this.onAbort, { once: true });
    }
  }

  get open(): boolean {
    return this.state === 'open';
  }

  /** Envelopes waiting to be read. */
  get queued(): number {
    return this.entries.length - this.head;
  }

  /** Their estimated bytes. */
  get queuedBytes(): number {
    return this.bytes;
  }

  /** Hands an envelope to the reader, or queues it; never blocks. */
  push(envelope: Envelope, size: number): void {
    if (this.state !== 'open') return;
    const waiter = this.waiter;
    if (waiter !== undefined) {
      // The reader is waiting, so the queue is empty: hand it over directly.
      this.waiter = undefined;
      waiter.resolve({ value: envelope, done: false });
      return;
    }
    if (this.queued + 1 > this.limits.maxEvents || this.bytes + size > this.limits.maxBytes) {
      this.fail(
        resourceExhausted(
          `events subscriber fell behind: more than ${this.limits.maxEvents} events or ` +
            `${this.limits.maxBytes} bytes waiting to be read; disconnected`,
        ),
      );
      return;
    }
    this.entries.push({ envelope, size });
    this.bytes += size;
  }

  next(): Promise<IteratorResult<Envelope>> {
    const entry = this.shift();
    if (entry !== undefined) return Promise.resolve({ value: entry.envelope, done: false });
    if (this.state === 'failed' && this.error !== undefined) {
      const error = this.error;
      this.error = undefined; // thrown once; later reads are done
      return Promise.reject(error);
    }
    if (this.state !== 'open') return Promise.resolve({ value: undefined, done: true });
    if (this.waiter !== undefined) {
      return Promise.reject(new Error('events subscription read concurrently'));
    }
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  return(): Promise<IteratorResult<Envelope>> {
    this.end();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** Ends iteration cleanly: queued envelopes are dropped, a pending read is done. */
  end(): void {
    if (this.state !== 'open') return;
    this.state = 'ended';
    this.close();
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.resolve({ value: undefined, done: true });
    this.onClose(this);
  }

  private fail(error: Error): void {
    this.state = 'failed';
    this.close();
    const waiter = this.waiter;
    this.waiter = undefined;
    if (waiter === undefined) {
      this.error = error;
    } else {
      waiter.reject(error);
    }
    this.onClose(this, error);
  }

  private close(): void {
    this.entries = [];
    this.head = 0;
    this.bytes = 0;
    this.signal.removeEventListener('abort', this.onAbort);
  }

  private shift(): Entry | undefined {
    if (this.head >= this.entries.length) return undefined;
    const entry = this.entries[this.head];
    this.head++;
    if (entry !== undefined) this.bytes -= entry.size;
    if (this.head === this.entries.length) {
      this.entries = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.entries.length) {
      // Drop the read prefix now and then, so reading stays O(1) amortised.
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
    return entry;
  }
}
