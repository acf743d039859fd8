import type {
  Envelope as EnvelopePb,
  EventsClient,
} from '../api/containerd/services/events/v1/events.js';
import type { AnyValue } from '../core/any/index.js';
import { eventType } from '../wire/event-payloads.js';
import { fromTimestamp } from '../wire/timestamp.js';
import type { CallContext, Rpc } from './rpc.js';

/**
 * An event as a subscriber gets it: the envelope, and the payload decoded
 * from its type URL (`containerd.events.TaskExit` → the generated
 * `TaskExit` message) when berth knows the type.
 */
export interface Event {
  /** When it was published. */
  timestamp: Date;
  /** The same, in nanoseconds since the epoch. */
  timestampNanos: bigint;
  namespace: string;
  topic: string;
  /** The payload's type URL. */
  type: string;
  /** The decoded payload; undefined for a type berth does not know. */
  event: Record<string, unknown> | undefined;
  /** The payload as it came. */
  raw: AnyValue;
}

/** The Events service: subscribe, publish and forward. */
export class EventsProxy {
  constructor(
    private readonly client: EventsClient,
    private readonly rpc: Rpc,
  ) {}

  /**
   * Events from now on matching any of `filters` (containerd's syntax over
   * `topic`, `namespace` and `event.<field>`), until the signal aborts or
   * the loop is left. Events are not scoped to the client's namespace: use
   * a `namespace==` filter for that.
   */
  async *subscribe(filters: readonly string[] = [], opts: CallContext = {}): AsyncGenerator<Event> {
    const stream = this.rpc.stream<EnvelopePb>({ signal: opts.signal }, (md, o) =>
      this.client.subscribe({ filters: [...filters] }, md, o),
    );
    for await (const env of stream) yield decodeEnvelope(env);
  }

  /** Publishes `event` on `topic` in the context's namespace. */
  async publish(ctx: CallContext, topic: string, event: AnyValue): Promise<void> {
    await this.rpc.unary(ctx, (md, o, cb) =>
      this.client.publish(
        { topic, event: { typeUrl: event.typeUrl, value: Buffer.from(event.value) } },
        md,
        o,
        cb,
      ),
    );
  }
}

export function decodeEnvelope(env: EnvelopePb): Event {
  const nanos = fromTimestamp(env.timestamp);
  const typeUrl = env.event?.typeUrl ?? '';
  const value = env.event?.value ?? Buffer.alloc(0);
  // Go clients may send `types.containerd.io/<name>`; berth's table has bare names.
  const type = eventType(typeUrl) ?? eventType(typeUrl.slice(typeUrl.lastIndexOf('/') + 1));
  let event: Record<string, unknown> | undefined;
  try {
    event = type?.decode(value) as Record<string, unknown> | undefined;
  } catch {
    event = undefined;
  }
  return {
    timestamp: new Date(Number(nanos / 1_000_000n)),
    timestampNanos: nanos,
    namespace: env.namespace,
    topic: env.topic,
    type: typeUrl,
    event,
    raw: { typeUrl, value: new Uint8Array(value.buffer, value.byteOffset, value.byteLength) },
  };
}
