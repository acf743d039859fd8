/**
 * @module
 * ttrpc framing: a 10-byte header (payload length and stream id as big-endian
 * uint32, then a type byte and a flags byte) followed by the payload. There
 * is no handshake and no flow control.
 */

export const HEADER_LENGTH = 10;

/** The largest payload either side accepts (4 MiB), as in github.com/containerd/ttrpc. */
export const MAX_MESSAGE_LENGTH = 4 << 20;

export const MessageType = Object.freeze({
  REQUEST: 1,
  RESPONSE: 2,
  /** Streaming data (newer ttrpc); the unary protocol berth speaks never sends it. */
  DATA: 3,
} as const);

export interface FrameHeader {
  readonly length: number;
  readonly streamId: number;
  readonly type: number;
  readonly flags: number;
}

/**
 * One frame read off the wire. An oversize frame (length above
 * {@link MAX_MESSAGE_LENGTH}) comes without its payload: the decoder skipped
 * those bytes, and the receiver answers or fails the stream it names.
 */
export type Frame =
  | { readonly header: FrameHeader; readonly oversize: false; readonly payload: Buffer }
  | { readonly header: FrameHeader; readonly oversize: true };

/** The bytes of one frame. The caller checks the payload size first. */
export function encodeFrame(
  streamId: number,
  type: number,
  payload: Uint8Array,
  flags = 0,
): Buffer {
  if (payload.length > 0xffffffff) throw new RangeError(`frame payload of ${payload.length} bytes`);
  const frame = Buffer.allocUnsafe(HEADER_LENGTH + payload.length);
  frame.writeUInt32BE(payload.length, 0);
  frame.writeUInt32BE(streamId >>> 0, 4);
  frame.writeUInt8(type & 0xff, 8);
  frame.writeUInt8(flags & 0xff, 9);
  frame.set(payload, HEADER_LENGTH);
  return frame;
}

export function decodeHeader(bytes: Buffer): FrameHeader {
  return {
    length: bytes.readUInt32BE(0),
    streamId: bytes.readUInt32BE(4),
    type: bytes.readUInt8(8),
    flags: bytes.readUInt8(9),
  };
}

/**
 * Reassembles frames from socket chunks of any size. It holds at most one
 * incomplete frame (header plus at most {@link MAX_MESSAGE_LENGTH} bytes) and
 * never stores the payload of an oversize frame: it counts those bytes off as
 * they arrive, so the stream stays in step.
 */
export class FrameDecoder {
  private readonly chunks: Buffer[] = [];
  private buffered = 0;
  /** The header of the frame whose payload is being read, if any. */
  private header: FrameHeader | undefined;
  /** Oversize payload bytes still to be skipped. */
  private skipping = 0;

  constructor(private readonly maxLength = MAX_MESSAGE_LENGTH) {}

  /** Bytes held for the frame in progress. */
  get pending(): number {
    return this.buffered;
  }

  /** Feeds one chunk; returns the frames it completed, in order. */
  push(chunk: Buffer): Frame[] {
    const frames: Frame[] = [];
    let data = chunk;
    while (data.length > 0) {
      if (this.skipping > 0) {
        const n = Math.min(this.skipping, data.length);
        this.skipping -= n;
        data = data.subarray(n);
        if (this.skipping === 0 && this.header) {
          frames.push({ header: this.header, oversize: true });
          this.header = undefined;
        }
        continue;
      }
      const need = (this.header ? this.header.length : HEADER_LENGTH) - this.buffered;
      if (data.length < need) {
        this.chunks.push(data);
        this.buffered += data.length;
        break;
      }
      const bytes = this.take(data.subarray(0, need));
      data = data.subarray(need);
      if (!this.header) {
        const header = decodeHeader(bytes);
        if (header.length > this.maxLength) {
          this.header = header;
          this.skipping = header.length;
        } else if (header.length === 0) {
          frames.push({ header, oversize: false, payload: Buffer.alloc(0) });
        } else {
          this.header = header;
        }
      } else {
        frames.push({ header: this.header, oversize: false, payload: bytes });
        this.header = undefined;
      }
    }
    return frames;
  }

  /** The buffered bytes followed by `tail`, as one buffer; empties the buffer. */
  private take(tail: Buffer): Buffer {
    if (this.chunks.length === 0) return tail;
    this.chunks.push(tail);
    const all = Buffer.concat(this.chunks, this.buffered + tail.length);
    this.chunks.length = 0;
    this.buffered = 0;
    return all;
  }
}
