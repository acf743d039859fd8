import type { AnyPayload, Envelope } from '../core/events/index.js';
import { type Adaptor, fieldsAdaptor } from '../core/filters/index.js';

/**
 * Turns an event payload into the fields filters may select under `event.`,
 * or undefined when the payload's type is unknown. Fields follow containerd's
 * `Field()` methods: proto field names (`container_id`), strings left out
 * when empty, `labels` as a map, nested messages as objects; fields
 * containerd does not expose (pids, exit statuses, times) are left out.
 */
export type EventDecoder = (event: AnyPayload) => Record<string, unknown> | undefined;

/**
 * The filter view of an envelope, as containerd's `Envelope.Field`:
 * `namespace` and `topic` (present when non-empty) and `event.<field…>`,
 * resolved on the decoded payload. The payload is decoded at most once, on
 * the first `event.` lookup, so one adaptor should be shared by every
 * subscriber's filter. A payload that fails to decode has no fields.
 */
export function envelopeAdaptor(envelope: Envelope, decode?: EventDecoder): Adaptor {
  let event: Adaptor | null | undefined;
  return (fieldpath) => {
    switch (fieldpath[0]) {
      case 'namespace':
        return envelope.namespace === '' ? undefined : envelope.namespace;
      case 'topic':
        return envelope.topic === '' ? undefined : envelope.topic;
      case 'event':
        if (event === undefined) event = decodeFields(envelope.event, decode);
        return event === null ? undefined : event(fieldpath.slice(1));
      default:
        return undefined;
    }
  };
}

function decodeFields(payload: AnyPayload, decode: EventDecoder | undefined): Adaptor | null {
  if (decode === undefined) return null;
  try {
    const fields = decode(payload);
    return fields === undefined ? null : fieldsAdaptor(fields);
  } catch {
    return null;
  }
}
