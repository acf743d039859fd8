import { invalidArgument } from '../errdefs/index.js';

const SHA256 = /^sha256:[a-f0-9]{64}$/;

/**
 * Checks a digest string. Only sha256 is supported; anything else is
 * `invalid_argument` with the reason.
 */
export function validateDigest(digest: string): void {
  if (SHA256.test(digest)) return;
  const colon = digest.indexOf(':');
  if (colon <= 0) {
    throw invalidArgument(`digest ${JSON.stringify(digest)}: invalid checksum digest format`);
  }
  const algorithm = digest.slice(0, colon);
  if (algorithm !== 'sha256') {
    throw invalidArgument(
      `digest ${JSON.stringify(digest)}: unsupported digest algorithm ${JSON.stringify(algorithm)}, only sha256 is supported`,
    );
  }
  throw invalidArgument(
    `digest ${JSON.stringify(digest)}: invalid checksum digest length or characters`,
  );
}

/** The hex part of a validated sha256 digest. */
export function digestHex(digest: string): string {
  validateDigest(digest);
  return digest.slice('sha256:'.length);
}
