/**
 * HTTP/2 framing (RFC 9113 §4, §6): the numbers and the few frames a
 * server writes. Every frame is a 9-byte header (24-bit length, type,
 * flags, 31-bit stream id) and its payload.
 */

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const FRAME_HEADER_SIZE = 9;

export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

export const Flag = {
  END_STREAM: 0x1,
  ACK: 0x1,
  END_HEADERS: 0x4,
  PADDED: 0x8,
  PRIORITY: 0x20,
} as const;

export const Setting = {
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
} as const;

export const ErrorCode = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  SETTINGS_TIMEOUT: 0x4,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  ENHANCE_YOUR_CALM: 0xb,
} as const;

/** The protocol's defaults before any SETTINGS arrive. */
export const DEFAULT_WINDOW = 65_535;
export const DEFAULT_MAX_FRAME_SIZE = 16_384;
export const MAX_FRAME_SIZE_LIMIT = 16_777_215;
export const MAX_WINDOW = 0x7fff_ffff;

export interface FrameHeader {
  length: number;
  type: number;
  flags: number;
  streamId: number;
}

export function readFrameHeader(b: Buffer, at: number): FrameHeader {
  return {
    length: b.readUIntBE(at, 3),
    type: b[at + 3]!,
    flags: b[at + 4]!,
    streamId: b.readUInt32BE(at + 5) & MAX_WINDOW,
  };
}

/** A frame: header and payload in one buffer. */
export function frame(type: number, flags: number, streamId: number, payload?: Uint8Array): Buffer {
  const len = payload?.length ?? 0;
  const b = Buffer.allocUnsafe(FRAME_HEADER_SIZE + len);
  writeFrameHeader(b, 0, len, type, flags, streamId);
  if (payload !== undefined) b.set(payload, FRAME_HEADER_SIZE);
  return b;
}

export function writeFrameHeader(
  b: Buffer,
  at: number,
  length: number,
  type: number,
  flags: number,
  streamId: number,
): void {
  b.writeUIntBE(length, at, 3);
  b[at + 3] = type;
  b[at + 4] = flags;
  b.writeUInt32BE(streamId, at + 5);
}

export function settingsFrame(
  settings: ReadonlyArray<readonly [id: number, value: number]>,
): Buffer {
  const p = Buffer.allocUnsafe(6 * settings.length);
  settings.forEach(([id, value], i) => {
    p.writeUInt16BE(id, 6 * i);
    p.writeUInt32BE(value, 6 * i + 2);
  });
  return frame(FrameType.SETTINGS, 0, 0, p);
}

export function windowUpdateFrame(streamId: number, increment: number): Buffer {
  const b = frame(FrameType.WINDOW_UPDATE, 0, streamId, Buffer.alloc(4));
  b.writeUInt32BE(increment, FRAME_HEADER_SIZE);
  return b;
}

export function rstStreamFrame(streamId: number, code: number): Buffer {
  const b = frame(FrameType.RST_STREAM, 0, streamId, Buffer.alloc(4));
  b.writeUInt32BE(code, FRAME_HEADER_SIZE);
  return b;
}

export function goawayFrame(lastStreamId: number, code: number, debug = ''): Buffer {
  const d = Buffer.from(debug, 'utf8');
  const p = Buffer.allocUnsafe(8 + d.length);
  p.writeUInt32BE(lastStreamId, 0);
  p.writeUInt32BE(code, 4);
  d.copy(p, 8);
  return frame(FrameType.GOAWAY, 0, 0, p);
}

/**
 * A header block as HEADERS plus as many CONTINUATION frames as the
 * peer's frame size needs, in one buffer.
 */
export function headersFrames(
  streamId: number,
  block: Buffer,
  endStream: boolean,
  maxFrameSize: number,
): Buffer {
  const first = endStream ? Flag.END_STREAM : 0;
  if (block.length <= maxFrameSize) {
    return frame(FrameType.HEADERS, first | Flag.END_HEADERS, streamId, block);
  }
  const parts: Buffer[] = [];
  for (let at = 0; at < block.length; at += maxFrameSize) {
    const chunk = block.subarray(at, at + maxFrameSize);
    const last = at + maxFrameSize >= block.length;
    const type = at === 0 ? FrameType.HEADERS : FrameType.CONTINUATION;
    const flags = (at === 0 ? first : 0) | (last ? Flag.END_HEADERS : 0);
    parts.push(frame(type, flags, streamId, chunk));
  }
  return Buffer.concat(parts);
}
