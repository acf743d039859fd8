/**
 * @module any
 * A protobuf Any as the domain carries it (type URL + bytes, never decoded
 * here), and the Buffer views generated code and Node APIs want.
 */

/** A protobuf Any carried through unchanged. */
export interface AnyValue {
  typeUrl: string;
  value: Uint8Array;
}

/** The same bytes as a Buffer: the value itself when it is one, else a view (no copy). */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes)
    ? bytes
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** An Any with a Buffer value, the shape generated protobuf code takes. */
export function anyBuffer(a: AnyValue): { typeUrl: string; value: Buffer };
export function anyBuffer(a: AnyValue | undefined): { typeUrl: string; value: Buffer } | undefined;
export function anyBuffer(a: AnyValue | undefined): { typeUrl: string; value: Buffer } | undefined {
  return a === undefined ? undefined : { typeUrl: a.typeUrl, value: asBuffer(a.value) };
}
