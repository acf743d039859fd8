export { HpackDecoder, type HpackDecoderOptions } from './decoder.js';
export { encodeHeaders } from './encoder.js';
export { HpackError } from './errors.js';
export type { HeaderField } from './types.js';
