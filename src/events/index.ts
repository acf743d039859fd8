/**
 * @module events
 * The in-process event exchange ({@link EventExchange}), implementing the
 * contract in `core/events`: publish, forward and filtered subscriptions,
 * global across namespaces as in containerd.
 *
 * Slow subscribers are disconnected, not waited for and not silently
 * skipped: each has a queue of at most 4096 envelopes or 16 MiB; the push
 * that would exceed it drops the queue and the subscriber's iterator throws
 * `resource_exhausted` ("events subscriber fell behind …"). Publishers never
 * block, and memory is bounded by subscribers × limits.
 *
 * The exchange never decodes protobuf: payloads stay opaque bytes, and
 * `event.<field>` filters go through the decoder the daemon passes in.
 */
export type { EventDecoder } from './adaptor.js';
export { envelopeAdaptor } from './adaptor.js';
export { type Clock, wallClock } from './clock.js';
export { DEFAULT_QUEUE_LIMITS, EventExchange, type ExchangeOptions } from './exchange.js';
export { envelopeSize, type QueueLimits } from './subscription.js';
export { validateEnvelope, validateTopic } from './topic.js';
