import type { Any } from '../api/google/protobuf/any.js';
import { type AnyValue, anyBuffer } from '../core/any/index.js';

export function anyToProto(v: AnyValue): Any {
  return anyBuffer(v);
}

/** The domain keeps plain Uint8Arrays (a view over the decoded bytes). */
export function anyFromProto(v: Any): AnyValue {
  return {
    typeUrl: v.typeUrl,
    value: new Uint8Array(v.value.buffer, v.value.byteOffset, v.value.byteLength),
  };
}
