import {
  EventsService,
  type ForwardRequest,
  type PublishRequest,
  type SubscribeRequest,
} from '../../api/containerd/services/events/v1/events.js';
import type { EventService } from '../../core/events/index.js';
import { type GrpcService, serverStream, unary } from '../../server/service.js';
import { envelopeFromProto, envelopeToProto, payloadFromProto } from '../../wire/envelope.js';

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
        await events.publish(ctx, req.topic, payloadFromProto(req.event, 'event'));
        return {};
      }),
      Forward: unary(async (ctx, req: ForwardRequest) => {
        await events.forward(ctx, envelopeFromProto(req.envelope));
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
            await sentOr(send(envelopeToProto(r.value)), next, ctx.signal);
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
