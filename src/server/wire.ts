/**
 * gRPC over HTTP/2, the message and header rules (grpc's PROTOCOL-HTTP2):
 * each message is a 1-byte compressed flag and a 4-byte big-endian length
 * before the bytes; the status travels in `grpc-status` / `grpc-message`
 * trailers; `grpc-timeout` carries the client's deadline.
 */

import { StatusCode } from '../core/errdefs/index.js';

export const MESSAGE_PREFIX_SIZE = 5;

/** A message as read off the wire, before any decompression. */
export interface WireMessage {
  compressed: boolean;
  payload: Buffer;
  /** Bytes it took on the wire, prefix included (flow-control credit). */
  wireSize: number;
}

/** A status the reader or the call refuses with. */
export class GrpcStatusError extends Error {
  constructor(
    readonly code: StatusCode,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Splits a request body into length-prefixed messages, across any chunk
 * boundaries. A message longer than `maxSize` is refused from its prefix,
 * before its bytes are buffered.
 */
export class MessageReader {
  private parts: Buffer[] = [];
  private have = 0;
  /** Length of the message being gathered; -1 while its prefix is incomplete. */
  private need = -1;
  private compressed = false;

  constructor(private readonly maxSize: number) {}

  /** Feeds bytes; returns the messages they complete, in order. */
  push(chunk: Buffer): WireMessage[] {
    const out: WireMessage[] = [];
    let buf = chunk;
    while (buf.length > 0) {
      if (this.need < 0) {
        if (this.have === 0 && buf.length >= MESSAGE_PREFIX_SIZE) {
          this.startMessage(buf);
          buf = buf.subarray(MESSAGE_PREFIX_SIZE);
        } else {
          const take = Math.min(MESSAGE_PREFIX_SIZE - this.have, buf.length);
          this.parts.push(buf.subarray(0, take));
          this.have += take;
          buf = buf.subarray(take);
          if (this.have < MESSAGE_PREFIX_SIZE) break;
          const prefix = Buffer.concat(this.parts, MESSAGE_PREFIX_SIZE);
          this.parts = [];
          this.have = 0;
          this.startMessage(prefix);
        }
      }
      const take = Math.min(this.need - this.have, buf.length);
      if (this.have === 0 && take === this.need) {
        // The common case: the whole message in this chunk, no copy.
        out.push(this.done(buf.subarray(0, take)));
        buf = buf.subarray(take);
        continue;
      }
      this.parts.push(buf.subarray(0, take));
      this.have += take;
      buf = buf.subarray(take);
      if (this.have === this.need) out.push(this.done(Buffer.concat(this.parts, this.need)));
    }
    return out;
  }

  /** True between messages: the body may end here. */
  get atBoundary(): boolean {
    return this.need < 0 && this.have === 0;
  }

  private startMessage(prefix: Buffer): void {
    const flag = prefix[0]!;
    if (flag > 1) {
      throw new GrpcStatusError(StatusCode.INTERNAL, `grpc: invalid message flag ${flag}`);
    }
    const len = prefix.readUInt32BE(1);
    if (len > this.maxSize) {
      throw new GrpcStatusError(
        StatusCode.RESOURCE_EXHAUSTED,
        `grpc: received message larger than max (${len} vs. ${this.maxSize})`,
      );
    }
    this.compressed = flag === 1;
    this.need = len;
  }

  private done(payload: Buffer): WireMessage {
    const m = {
      compressed: this.compressed,
      payload,
      wireSize: MESSAGE_PREFIX_SIZE + payload.length,
    };
    this.parts = [];
    this.have = 0;
    this.need = -1;
    return m;
  }
}

/** A message with its prefix, in one buffer. */
export function frameMessage(payload: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(MESSAGE_PREFIX_SIZE + payload.length);
  b[0] = 0;
  b.writeUInt32BE(payload.length, 1);
  b.set(payload, MESSAGE_PREFIX_SIZE);
  return b;
}

/**
 * `grpc-message` is percent-encoded UTF-8: every byte outside printable
 * ASCII, and `%` itself, becomes %XX.
 */
export function encodeGrpcMessage(message: string): string {
  if (/^[\x20-\x24\x26-\x7e]*$/.test(message)) return message;
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    out +=
      byte >= 0x20 && byte <= 0x7e && byte !== 0x25
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

const TIMEOUT_UNIT_MS: Record<string, number> = {
  H: 3_600_000,
  M: 60_000,
  S: 1000,
  m: 1,
  u: 1e-3,
  n: 1e-6,
};

/**
 * The `grpc-timeout` header in milliseconds: at most 8 digits and a unit
 * (H, M, S, m, u, n). Undefined when absent; a malformed value is an error.
 */
export function parseTimeout(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const m = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (m === null) {
    throw new GrpcStatusError(
      StatusCode.INTERNAL,
      `malformed grpc-timeout ${JSON.stringify(value)}`,
    );
  }
  return Number(m[1]) * TIMEOUT_UNIT_MS[m[2]!]!;
}
