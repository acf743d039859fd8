import { invalidArgument, kindOf, newError } from '../core/errdefs/index.js';
import type { AnyPayload, Envelope, EventService } from '../core/events/index.js';
import { parseFilters } from '../core/filters/index.js';
import { type Logger, nullLogger } from '../core/log/index.js';
import { namespaceRequired, type OpContext } from '../core/namespaces/index.js';
import { type EventDecoder, envelopeAdaptor } from './adaptor.js';
import { type Clock, wallClock } from './clock.js';
import { envelopeSize, type QueueLimits, Subscription } from './subscription.js';
import { validateEnvelope, validateTopic } from './topic.js';

/** 4096 envelopes or 16 MiB, whichever comes first. */
export const DEFAULT_QUEUE_LIMITS: QueueLimits = Object.freeze({
  maxEvents: 4096,
  maxBytes: 16 << 20,
});

export interface ExchangeOptions {
  /**
   * Decodes payloads for `event.<field>` filters. The exchange cannot decode
   * protobuf itself; without a decoder such selectors see no fields.
   */
  decode?: EventDecoder;
  /** Per-subscriber queue limits; {@link DEFAULT_QUEUE_LIMITS} by default. */
  limits?: Partial<QueueLimits>;
  /** Envelope timestamps; the wall clock in nanoseconds by default. */
  clock?: Clock;
  log?: Logger;
}

/**
 * The in-process event exchange: every published or forwarded envelope goes
 * to every current subscriber whose filters match it, in publish order.
 * Events are global, as in containerd: a subscription sees every namespace
 * unless its filters say otherwise.
 *
 * Publishing never waits for subscribers. Each subscriber has a bounded
 * queue ({@link DEFAULT_QUEUE_LIMITS}); one that falls further behind is
 * disconnected (its iterator throws `resource_exhausted`) while the others
 * carry on. So memory stays bounded by subscribers × limits, and a slow or
 * stuck reader can never stall the daemon. A disconnected reader knows it
 * lost events, which dropping them silently would hide.
 */
export class EventExchange implements EventService {
  private readonly subscribers = new Set<Subscription>();
  private readonly decode: EventDecoder | undefined;
  private readonly limits: QueueLimits;
  private readonly clock: Clock;
  private readonly log: Logger;

  constructor(opts: ExchangeOptions = {}) {
    this.decode = opts.decode;
    this.limits = { ...DEFAULT_QUEUE_LIMITS, ...opts.limits };
    this.clock = opts.clock ?? wallClock();
    this.log = opts.log ?? nullLogger;
  }

  async publish(ctx: OpContext, topic: string, event: AnyPayload): Promise<void> {
    let namespace: string;
    try {
      namespace = namespaceRequired(ctx);
    } catch (err) {
      throw newError(kindOf(err), `failed publishing event: ${(err as Error).message}`, {
        cause: err,
      });
    }
    validateTopic(topic);
    this.broadcast({ timestamp: this.clock(), namespace, topic, event });
  }

  async forward(_ctx: OpContext, envelope: Envelope): Promise<void> {
    validateEnvelope(envelope);
    this.broadcast({ ...envelope });
  }

  /**
   * Registers at once (envelopes published after this call are seen, even
   * before the first read). Invalid filters throw `invalid_argument` here.
   */
  subscribe(ctx: OpContext, filters: readonly string[] = []): AsyncIterable<Envelope> {
    let filter: ReturnType<typeof parseFilters>;
    try {
      filter = parseFilters(filters);
    } catch (err) {
      throw invalidArgument(`failed parsing subscription filters: ${(err as Error).message}`, {
        cause: err,
      });
    }
    const sub = new Subscription(filter, this.limits, ctx.signal, (s, error) => {
      this.subscribers.delete(s);
      if (error !== undefined) this.log.warn({ err: error }, 'events subscriber disconnected');
    });
    if (sub.open) this.subscribers.add(sub);
    return sub;
  }

  /** Subscribers currently registered. */
  get subscriberCount(): number {
    return this.subscribers.size;
  }

  /** Subscribers, and the envelopes (and bytes) queued for them in all. */
  stats(): { subscribers: number; queued: number; queuedBytes: number } {
    let queued = 0;
    let queuedBytes = 0;
    for (const sub of this.subscribers) {
      queued += sub.queued;
      queuedBytes += sub.queuedBytes;
    }
    return { subscribers: this.subscribers.size, queued, queuedBytes };
  }

  /** Ends every subscription cleanly (daemon shutdown). */
  close(): void {
    for (const sub of [...this.subscribers]) sub.end();
  }

  private broadcast(envelope: Envelope): void {
    Object.freeze(envelope);
    this.log.debug(
      { topic: envelope.topic, ns: envelope.namespace, type: envelope.event.typeUrl },
      'event published',
    );
    if (this.subscribers.size === 0) return;
    const adaptor = envelopeAdaptor(envelope, this.decode);
    const size = envelopeSize(envelope);
    // A subscriber that overflows removes itself; deleting from a Set while
    // iterating it is safe.
    for (const sub of this.subscribers) {
      if (sub.filter.match(adaptor)) sub.push(envelope, size);
    }
  }
}
