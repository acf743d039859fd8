import {
  PublishRequest,
  ForwardRequest as V1ForwardRequest,
} from '../../api/containerd/services/events/v1/events.js';
import { ForwardRequest } from '../../api/containerd/services/ttrpc/events/v1/events.js';
import { Empty } from '../../api/google/protobuf/empty.js';
import type { EventService } from '../../core/events/index.js';
import type { Logger } from '../../core/log/index.js';
import type { OpContext } from '../../core/namespaces/index.js';
import type { TtrpcRequestContext, TtrpcServer } from '../../ttrpc/index.js';
import { envelopeFromProto, payloadFromProto } from '../../wire/envelope.js';

/** The namespace a shim's ttrpc call carries. */
const NAMESPACE_KEY = 'containerd-namespace-ttrpc';

/**
 * The events services shims call on the daemon's ttrpc socket
 * (`<socket>.ttrpc`, the TTRPC_ADDRESS they are started with):
 * `containerd.services.events.ttrpc.v1.Events/Forward`, which the 1.6 shims
 * use, and the v1 service's Forward and Publish, which newer shims use.
 * Forwarded envelopes keep their namespace, topic and timestamp.
 */
export function registerTtrpcEvents(server: TtrpcServer, events: EventService, log: Logger): void {
  const empty = Empty.encode({}).finish();
  const context = (t: TtrpcRequestContext): OpContext => {
    const namespace = t.metadata.get(NAMESPACE_KEY)?.[0];
    return { ...(namespace !== undefined && { namespace }), signal: t.signal, log };
  };
  server.register('containerd.services.events.ttrpc.v1.Events', 'Forward', async (payload, t) => {
    await events.forward(context(t), envelopeFromProto(ForwardRequest.decode(payload).envelope));
    return empty;
  });
  server.register('containerd.services.events.v1.Events', 'Forward', async (payload, t) => {
    await events.forward(context(t), envelopeFromProto(V1ForwardRequest.decode(payload).envelope));
    return empty;
  });
  server.register('containerd.services.events.v1.Events', 'Publish', async (payload, t) => {
    const req = PublishRequest.decode(payload);
    await events.publish(context(t), req.topic, payloadFromProto(req.event, 'event'));
    return empty;
  });
}
