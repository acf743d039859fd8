/**
 * Malformed HPACK input (RFC 7541). An HTTP/2 connection that sees one answers with a
 * connection error of type COMPRESSION_ERROR (RFC 7540 §4.3): the decoder's dynamic table
 * can no longer be trusted to match the peer's.
 */
export class HpackError extends Error {
  override readonly name = 'HpackError';
}
