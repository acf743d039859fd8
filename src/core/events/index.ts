/**
 * @module events
 * Events travel as envelopes: when, in which namespace, on which topic, and
 * the payload as a protobuf Any (type URL + bytes). The domain never
 * encodes payloads itself; services (adapters) do, with the generated types.
 */
import type { OpContext } from '../namespaces/index.js';

export interface AnyPayload {
  /** containerd's bare type URL, e.g. `containerd.events.TaskExit`. */
  typeUrl: string;
  value: Uint8Array;
}

export interface Envelope {
  /** Nanoseconds since the epoch. */
  timestamp: bigint;
  namespace: string;
  topic: string;
  event: AnyPayload;
}

export interface Publisher {
  /**
   * Publishes in the context's namespace (`failed_precondition` without one).
   * Topics are `/`-separated paths (`/images/create`); an invalid topic is
   * `invalid_argument`. Never blocks on subscribers.
   */
  publish(ctx: OpContext, topic: string, event: AnyPayload): Promise<void>;
}

export interface Forwarder {
  /** Re-publishes an envelope made elsewhere (e.g. by a shim), unchanged. */
  forward(ctx: OpContext, envelope: Envelope): Promise<void>;
}

export interface Subscriber {
  /**
   * Envelopes published from now on that match any of `filters`
   * (containerd's syntax over `topic`, `namespace` and `event.<field>`),
   * until `ctx.signal` aborts. A subscriber that falls too far behind is
   * disconnected: the iterator throws `resource_exhausted`.
   */
  subscribe(ctx: OpContext, filters?: readonly string[]): AsyncIterable<Envelope>;
}

export type EventService = Publisher & Forwarder & Subscriber;
