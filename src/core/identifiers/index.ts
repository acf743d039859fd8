/**
 * @module identifiers
 * containerd's rules for names of namespaces, containers, leases and other
 * resources: alphanumeric runs joined by single `.`, `_` or `-`, at most 76
 * characters. Such names are safe as path components and as SQL keys.
 */
import { invalidArgument } from '../errdefs/index.js';

export const MAX_IDENTIFIER_LENGTH = 76;

// Written as containerd composes it, so error messages quote the same text.
const IDENTIFIER = /^[A-Za-z0-9]+(?:[._-](?:[A-Za-z0-9]+))*$/;

/** Throws `invalid_argument` when `s` is not a valid identifier. */
export function validateIdentifier(s: string): void {
  if (s.length === 0) {
    throw invalidArgument('identifier must not be empty');
  }
  if (s.length > MAX_IDENTIFIER_LENGTH) {
    throw invalidArgument(
      `identifier ${JSON.stringify(s)} greater than maximum length (${MAX_IDENTIFIER_LENGTH} characters)`,
    );
  }
  if (!IDENTIFIER.test(s)) {
    throw invalidArgument(`identifier ${JSON.stringify(s)} must match ${IDENTIFIER.source}`);
  }
}

export function isValidIdentifier(s: string): boolean {
  return s.length > 0 && s.length <= MAX_IDENTIFIER_LENGTH && IDENTIFIER.test(s);
}
