/**
 * One header field: name and value, each a string holding one char per octet (latin1), so
 * any byte sequence a peer sends survives decoding unchanged.
 */
export type HeaderField = readonly [name: string, value: string];
