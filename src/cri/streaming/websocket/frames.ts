import { randomBytes } from 'node:crypto';
import { invalidArgument } from '../../../core/errdefs/index.js';

/** WebSocket framing (RFC 6455, section 5). */
export const Opcode = {
  Continuation: 0x0,
  Text: 0x1,
  Binary: 0x2,
  Close: 0x8,
  Ping: 0x9,
  Pong: 0xa,
} as const;

export interface WsFrame {
  fin: boolean;
  opcode: number;
  payload: Buffer;
}

/** Encodes one frame; clients mask (`mask: true`), servers do not. */
export function encodeWsFrame(
  opcode: number,
  payload: Buffer,
  opts: { fin?: boolean; mask?: boolean } = {},
): Buffer {
  const fin = opts.fin ?? true;
  const len = payload.length;
  const ext = len < 126 ? 0 : len <= 0xffff ? 2 : 8;
  const maskLen = opts.mask ? 4 : 0;
  const head = Buffer.allocUnsafe(2 + ext + maskLen);
  head[0] = (fin ? 0x80 : 0) | (opcode & 0x0f);
  head[1] = (opts.mask ? 0x80 : 0) | (ext === 0 ? len : ext === 2 ? 126 : 127);
  if (ext === 2) head.writeUInt16BE(len, 2);
  else if (ext === 8) head.writeBigUInt64BE(BigInt(len), 2);
  if (!opts.mask) return Buffer.concat([head, payload]);
  const key = randomBytes(4);
  key.copy(head, 2 + ext);
  const masked = Buffer.allocUnsafe(len);
  for (let i = 0; i < len; i++) masked[i] = payload[i]! ^ key[i & 3]!;
  return Buffer.concat([head, masked]);
}

/**
 * Splits a byte stream into frames. `requireMask` is the server's side of the rule that clients mask every frame
 * (a client's unmasked frame, or a server's masked one, is a protocol error). Frames over `maxPayload` are refused
 * before their payload is buffered.
 */
export class WsFrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(
    private readonly requireMask: boolean,
    private readonly maxPayload: number,
  ) {}

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  next(): WsFrame | undefined {
    if (this.buffered < 2) return undefined;
    const head = this.peek(Math.min(this.buffered, 14));
    const b0 = head[0]!;
    const b1 = head[1]!;
    if (b0 & 0x70)
      throw invalidArgument('websocket frame: reserved bits set (no extension was negotiated)');
    const masked = (b1 & 0x80) !== 0;
    if (masked !== this.requireMask) {
      throw invalidArgument(
        this.requireMask
          ? 'websocket frame: client frame not masked'
          : 'websocket frame: server frame masked',
      );
    }
    let len = b1 & 0x7f;
    let off = 2;
    if (len === 126) {
      if (head.length < 4) return undefined;
      len = head.readUInt16BE(2);
      off = 4;
    } else if (len === 127) {
      if (head.length < 10) return undefined;
      const big = head.readBigUInt64BE(2);
      if (big > BigInt(this.maxPayload)) {
        throw invalidArgument(
          `websocket frame of ${big} bytes: at most ${this.maxPayload} accepted`,
        );
      }
      len = Number(big);
      off = 10;
    }
    if (len > this.maxPayload)
      throw invalidArgument(`websocket frame of ${len} bytes: at most ${this.maxPayload} accepted`);
    const opcode = b0 & 0x0f;
    if (opcode >= 0x8 && (len > 125 || !(b0 & 0x80))) {
      throw invalidArgument('websocket control frame fragmented or longer than 125 bytes');
    }
    const total = off + (masked ? 4 : 0) + len;
    if (this.buffered < total) return undefined;
    const frame = this.take(total);
    let payload = frame.subarray(off + (masked ? 4 : 0));
    if (masked) {
      const key = frame.subarray(off, off + 4);
      const out = Buffer.allocUnsafe(len);
      for (let i = 0; i < len; i++) out[i] = payload[i]! ^ key[i & 3]!;
      payload = out;
    }
    return { fin: (b0 & 0x80) !== 0, opcode, payload };
  }

  private peek(n: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length >= n) return first;
    const joined = Buffer.concat(this.chunks);
    this.chunks = [joined];
    return joined;
  }

  private take(n: number): Buffer {
    const joined = this.peek(n);
    this.buffered -= n;
    if (joined.length === n) this.chunks.shift();
    else this.chunks[0] = joined.subarray(n);
    return joined.subarray(0, n);
  }
}
