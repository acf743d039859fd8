import { invalidArgument } from '../core/errdefs/index.js';
import type { Envelope } from '../core/events/index.js';
import { validateIdentifier } from '../core/identifiers/index.js';

/**
 * Checks a topic as containerd's exchange does: `/` followed by one or more
 * `/`-separated components, each an identifier (`/tasks/exit`,
 * `/namespaces/create`). Throws `invalid_argument` with containerd's text,
 * e.g. `envelope topic "tasks": must start with '/'`.
 */
export function validateTopic(topic: string): void {
  const fail = (reason: string, cause?: unknown) =>
    invalidArgument(`envelope topic ${JSON.stringify(topic)}: ${reason}`, { cause });
  if (topic === '') throw fail('must not be empty');
  if (!topic.startsWith('/')) throw fail("must start with '/'");
  if (topic.length === 1) throw fail('must have at least one component');
  for (const component of topic.slice(1).split('/')) {
    try {
      validateIdentifier(component);
    } catch (err) {
      throw fail(
        `failed validation on component ${JSON.stringify(component)}: ${(err as Error).message}`,
        err,
      );
    }
  }
}

/**
 * Checks an envelope to forward: a valid namespace and topic. (containerd
 * also refuses a zero timestamp; "unset" only exists on the wire, so the
 * service adapter checks that.)
 */
export function validateEnvelope(envelope: Envelope): void {
  try {
    validateIdentifier(envelope.namespace);
  } catch (err) {
    throw invalidArgument(`event envelope has invalid namespace: ${(err as Error).message}`, {
      cause: err,
    });
  }
  validateTopic(envelope.topic);
}
