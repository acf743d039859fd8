import {
  type Envelope as ApiEnvelope,
  EventsService,
  type ForwardRequest,
  type PublishRequest,
  type SubscribeRequest,
} from '../../api/containerd/services/events/v1/events.js';
import type { Any } from '../../api/google/protobuf/any.js';
import { asBuffer } from '../../core/any/index.js';
import { invalidArgument } from '../../core/errdefs/index.js';
import type { AnyPayload, Envelope, EventService } from '../../core/events/index.js';
import { type GrpcService, serverStream, unary } from '../../server/service.js';
import { fromTimestamp, toTimestamp } from '../timestamp.js';

/**
 * containerd.services.events.v1.Events over an {@link EventService}.
 *
 * Not namespaced: Subscribe and Forward work without a namespace (events
 * are global; a forwarded envelope carries its own). Publish requires one,
 * from the `containerd-namespace` header, as containerd's exchange does.
 */
export function eventsService(events: EventService): GrpcService {
  return {
    name: 'containerd.services.events.v1.Events',
    definition: EventsService,
    namespaced: false,
    handlers: {
      Publish: unary(async (ctx, req: PublishRequest) => {
        await events.publish(ctx, req.topic, payload(req.event, 'event'));
        return {};
      }),
      Forward: unary(async (ctx, req: ForwardRequest) => {
        await events.forward(ctx, fromProto(req.envelope));
        return {};
      }),
      // Ends when the client cancels (ctx.signal), the server stops (same
      // signal), or the subscriber falls behind (RESOURCE_EXHAUSTED).
      Subscribe: serverStream(async (ctx, req: SubscribeRequest, send) => {
        const it = events.subscribe(ctx, req.filters)[Symbol.asyncIterator]();
        try {
          let next = it.next();
          for (;;) {
            const r = await next;
            if (r.done || ctx.signal.aborted) return;
            // Read ahead, so that a disconnect or a stop ends the call even
            // while a write waits on a client that does not read.
            next = it.next();
            await sentOr(send(toProto(r.value)), next, ctx.signal);
          }
        } finally {
          await it.return?.();
        }
      }),
    },
  };
}

/**
 * Settles when the write does, or earlier: rejects when the subscription
 * fails (`next` rejects), resolves when `signal` aborts. Never waits for
 * `next` to yield: one write at a time keeps HTTP/2 flow control as the
 * back-pressure that fills the subscriber's bounded queue.
 */
function sentOr(sent: Promise<void>, next: Promise<unknown>, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const done = (settle: () => void) => {
      signal.removeEventListener('abort', onAbort);
      settle();
    };
    const onAbort = () => done(resolve);
    sent.then(
      () => done(resolve),
      (err: unknown) => done(() => reject(err)),
    );
    next.catch((err: unknown) => done(() => reject(err)));
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
}

export function toProto(envelope: Envelope): ApiEnvelope {
  return {
    timestamp: toTimestamp(envelope.timestamp),
    namespace: envelope.namespace,
    topic: envelope.topic,
    event: { typeUrl: envelope.event.typeUrl, value: asBuffer(envelope.event.value) },
  };
}

/**
 * The domain envelope of a forwarded one. containerd refuses a missing
 * timestamp with this text; it also accepts a missing event, which berth
 * refuses (every envelope carries a payload here).
 */
export function fromProto(envelope: ApiEnvelope | undefined): Envelope {
  if (envelope === undefined) throw invalidArgument('envelope is required');
  if (envelope.timestamp === undefined) {
    throw invalidArgument('timestamp must be set on forwarded event');
  }
  return {
    timestamp: fromTimestamp(envelope.timestamp),
    namespace: envelope.namespace,
    topic: envelope.topic,
    event: payload(envelope.event, 'envelope event'),
  };
}

export function payload(any: Any | undefined, what: string): AnyPayload {
  if (any === undefined) throw invalidArgument(`${what} is required`);
  return { typeUrl: any.typeUrl, value: any.value };
}
