import type { Envelope as EnvelopePb } from '../api/containerd/services/events/v1/events.js';
import type { Any } from '../api/google/protobuf/any.js';
import { asBuffer } from '../core/any/index.js';
import { invalidArgument } from '../core/errdefs/index.js';
import type { AnyPayload, Envelope } from '../core/events/index.js';
import { fromTimestamp, toTimestamp } from './timestamp.js';

export function envelopeToProto(envelope: Envelope): EnvelopePb {
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
export function envelopeFromProto(envelope: EnvelopePb | undefined): Envelope {
  if (envelope === undefined) throw invalidArgument('envelope is required');
  if (envelope.timestamp === undefined) {
    throw invalidArgument('timestamp must be set on forwarded event');
  }
  return {
    timestamp: fromTimestamp(envelope.timestamp),
    namespace: envelope.namespace,
    topic: envelope.topic,
    event: payloadFromProto(envelope.event, 'envelope event'),
  };
}

/** A required Any as an event payload; `what` names it in the error when it is missing. */
export function payloadFromProto(any: Any | undefined, what: string): AnyPayload {
  if (any === undefined) throw invalidArgument(`${what} is required`);
  return { typeUrl: any.typeUrl, value: any.value };
}
