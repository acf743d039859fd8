import { invalidArgument } from '../../../core/errdefs/index.js';

/**
 * SPDY/3.1 framing (SPDY protocol draft 3.1, section 2.2): control frames start with the control bit, the version
 * (3) and a 16-bit type, then 8 bits of flags and a 24-bit length; data frames start with a 31-bit stream id, then
 * flags and length. Header blocks are kept compressed here; {@link HeaderCompressor}/{@link HeaderDecompressor}
 * turn them into header lists.
 */
export const SPDY_VERSION = 3;

export const FrameType = {
  SynStream: 1,
  SynReply: 2,
  RstStream: 3,
  Settings: 4,
  Ping: 6,
  GoAway: 7,
  Headers: 8,
  WindowUpdate: 9,
} as const;

/** FLAG_FIN on SYN_STREAM, SYN_REPLY, HEADERS and DATA frames. */
export const FLAG_FIN = 0x01;
/** FLAG_UNIDIRECTIONAL on SYN_STREAM: the receiver may not send on the stream. */
export const FLAG_UNIDIRECTIONAL = 0x02;

/** RST_STREAM status codes. */
export const RstStatus = {
  ProtocolError: 1,
  InvalidStream: 2,
  RefusedStream: 3,
  UnsupportedVersion: 4,
  Cancel: 5,
  InternalError: 6,
  FlowControlError: 7,
  StreamInUse: 8,
  StreamAlreadyClosed: 9,
  FrameTooLarge: 11,
} as const;

/** GOAWAY status codes. */
export const GoAwayStatus = { Ok: 0, ProtocolError: 1, InternalError: 2 } as const;

/** SETTINGS ids this implementation reads. */
export const SettingsId = { MaxConcurrentStreams: 4, InitialWindowSize: 7 } as const;

/** The largest length a frame can declare (24 bits). */
export const MAX_FRAME_LENGTH = 0xffffff;

export type Frame =
  | { type: 'data'; streamId: number; flags: number; data: Buffer }
  | {
      type: 'syn_stream';
      streamId: number;
      associatedTo: number;
      priority: number;
      flags: number;
      headerBlock: Buffer;
    }
  | { type: 'syn_reply'; streamId: number; flags: number; headerBlock: Buffer }
  | { type: 'rst_stream'; streamId: number; status: number }
  | { type: 'settings'; flags: number; entries: { flags: number; id: number; value: number }[] }
  | { type: 'ping'; id: number }
  | { type: 'goaway'; lastGoodStreamId: number; status: number }
  | { type: 'headers'; streamId: number; flags: number; headerBlock: Buffer }
  | { type: 'window_update'; streamId: number; delta: number }
  /** A control frame of a type SPDY/3.1 does not define (or CREDENTIAL): the spec says to ignore it. */
  | { type: 'unknown'; controlType: number; flags: number; payload: Buffer };

function controlHeader(type: number, flags: number, length: number): Buffer {
  const b = Buffer.allocUnsafe(8 + length);
  b.writeUInt16BE(0x8000 | SPDY_VERSION, 0);
  b.writeUInt16BE(type, 2);
  b.writeUInt32BE(((flags & 0xff) << 24) | length, 4);
  return b;
}

function checkStreamId(id: number): void {
  if (!Number.isInteger(id) || id <= 0 || id > 0x7fffffff) {
    throw new RangeError(`spdy: stream id ${id} out of range`);
  }
}

/** The 8-byte header of a DATA frame; the payload follows it on the wire (not copied). */
export function encodeDataHeader(streamId: number, length: number, fin: boolean): Buffer {
  checkStreamId(streamId);
  if (length > MAX_FRAME_LENGTH) throw new RangeError(`spdy: data frame of ${length} bytes`);
  const b = Buffer.allocUnsafe(8);
  b.writeUInt32BE(streamId, 0);
  b.writeUInt32BE(((fin ? FLAG_FIN : 0) << 24) | length, 4);
  return b;
}

export function encodeSynStream(
  streamId: number,
  headerBlock: Buffer,
  opts: { flags?: number; associatedTo?: number; priority?: number } = {},
): Buffer {
  checkStreamId(streamId);
  const b = controlHeader(FrameType.SynStream, opts.flags ?? 0, 10 + headerBlock.length);
  b.writeUInt32BE(streamId, 8);
  b.writeUInt32BE(opts.associatedTo ?? 0, 12);
  b[16] = ((opts.priority ?? 0) & 0x7) << 5;
  b[17] = 0; // slot
  headerBlock.copy(b, 18);
  return b;
}

export function encodeSynReply(streamId: number, headerBlock: Buffer, flags = 0): Buffer {
  checkStreamId(streamId);
  const b = controlHeader(FrameType.SynReply, flags, 4 + headerBlock.length);
  b.writeUInt32BE(streamId, 8);
  headerBlock.copy(b, 12);
  return b;
}

export function encodeHeaders(streamId: number, headerBlock: Buffer, flags = 0): Buffer {
  checkStreamId(streamId);
  const b = controlHeader(FrameType.Headers, flags, 4 + headerBlock.length);
  b.writeUInt32BE(streamId, 8);
  headerBlock.copy(b, 12);
  return b;
}

export function encodeRstStream(streamId: number, status: number): Buffer {
  checkStreamId(streamId);
  const b = controlHeader(FrameType.RstStream, 0, 8);
  b.writeUInt32BE(streamId, 8);
  b.writeUInt32BE(status, 12);
  return b;
}

export function encodeSettings(
  entries: { flags?: number; id: number; value: number }[],
  flags = 0,
): Buffer {
  const b = controlHeader(FrameType.Settings, flags, 4 + entries.length * 8);
  b.writeUInt32BE(entries.length, 8);
  entries.forEach((e, i) => {
    b.writeUInt32BE((((e.flags ?? 0) & 0xff) << 24) | (e.id & 0xffffff), 12 + i * 8);
    b.writeUInt32BE(e.value >>> 0, 16 + i * 8);
  });
  return b;
}

export function encodePing(id: number): Buffer {
  const b = controlHeader(FrameType.Ping, 0, 4);
  b.writeUInt32BE(id >>> 0, 8);
  return b;
}

export function encodeGoAway(lastGoodStreamId: number, status: number): Buffer {
  const b = controlHeader(FrameType.GoAway, 0, 8);
  b.writeUInt32BE(lastGoodStreamId & 0x7fffffff, 8);
  b.writeUInt32BE(status, 12);
  return b;
}

/** streamId 0 updates the connection's (session) window, as SPDY/3.1 defines. */
export function encodeWindowUpdate(streamId: number, delta: number): Buffer {
  if (delta <= 0 || delta > 0x7fffffff) throw new RangeError(`spdy: window delta ${delta}`);
  const b = controlHeader(FrameType.WindowUpdate, 0, 8);
  b.writeUInt32BE(streamId & 0x7fffffff, 8);
  b.writeUInt32BE(delta, 12);
  return b;
}

function need(payload: Buffer, n: number, what: string): void {
  if (payload.length < n) {
    throw invalidArgument(`spdy ${what} frame: ${payload.length} bytes, at least ${n} expected`);
  }
}

function decodeControl(type: number, flags: number, p: Buffer): Frame {
  switch (type) {
    case FrameType.SynStream:
      need(p, 10, 'SYN_STREAM');
      return {
        type: 'syn_stream',
        streamId: p.readUInt32BE(0) & 0x7fffffff,
        associatedTo: p.readUInt32BE(4) & 0x7fffffff,
        priority: p[8]! >> 5,
        flags,
        headerBlock: p.subarray(10),
      };
    case FrameType.SynReply:
      need(p, 4, 'SYN_REPLY');
      return {
        type: 'syn_reply',
        streamId: p.readUInt32BE(0) & 0x7fffffff,
        flags,
        headerBlock: p.subarray(4),
      };
    case FrameType.RstStream:
      need(p, 8, 'RST_STREAM');
      return {
        type: 'rst_stream',
        streamId: p.readUInt32BE(0) & 0x7fffffff,
        status: p.readUInt32BE(4),
      };
    case FrameType.Settings: {
      need(p, 4, 'SETTINGS');
      const n = p.readUInt32BE(0);
      need(p, 4 + n * 8, 'SETTINGS');
      const entries: { flags: number; id: number; value: number }[] = [];
      for (let i = 0; i < n; i++) {
        const w = p.readUInt32BE(4 + i * 8);
        entries.push({ flags: w >>> 24, id: w & 0xffffff, value: p.readUInt32BE(8 + i * 8) });
      }
      return { type: 'settings', flags, entries };
    }
    case FrameType.Ping:
      need(p, 4, 'PING');
      return { type: 'ping', id: p.readUInt32BE(0) };
    case FrameType.GoAway:
      // SPDY/3 GOAWAY has a status; SPDY/2's did not: accept both.
      need(p, 4, 'GOAWAY');
      return {
        type: 'goaway',
        lastGoodStreamId: p.readUInt32BE(0) & 0x7fffffff,
        status: p.length >= 8 ? p.readUInt32BE(4) : 0,
      };
    case FrameType.Headers:
      need(p, 4, 'HEADERS');
      return {
        type: 'headers',
        streamId: p.readUInt32BE(0) & 0x7fffffff,
        flags,
        headerBlock: p.subarray(4),
      };
    case FrameType.WindowUpdate:
      need(p, 8, 'WINDOW_UPDATE');
      return {
        type: 'window_update',
        streamId: p.readUInt32BE(0) & 0x7fffffff,
        delta: p.readUInt32BE(4) & 0x7fffffff,
      };
    default:
      return { type: 'unknown', controlType: type, flags, payload: p };
  }
}

/**
 * Splits a byte stream into frames. {@link push} takes chunks as they arrive, {@link next} returns the next whole
 * frame or undefined. Frames longer than `maxFrameLength` (control frames: `maxControlLength`) are refused
 * (invalid_argument) before their payload is buffered, so one frame never holds more than that in memory.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(
    private readonly maxFrameLength = MAX_FRAME_LENGTH,
    private readonly maxControlLength = MAX_FRAME_LENGTH,
  ) {}

  /** Bytes held that do not make a whole frame yet. */
  get pending(): number {
    return this.buffered;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  next(): Frame | undefined {
    if (this.buffered < 8) return undefined;
    const head = this.peek(8);
    const word = head.readUInt32BE(0);
    const flagsAndLength = head.readUInt32BE(4);
    const flags = flagsAndLength >>> 24;
    const length = flagsAndLength & 0xffffff;
    const max =
      word & 0x80000000
        ? Math.min(this.maxControlLength, this.maxFrameLength)
        : this.maxFrameLength;
    if (length > max)
      throw invalidArgument(`spdy frame of ${length} bytes: at most ${max} accepted`);
    if (this.buffered < 8 + length) return undefined;
    this.take(8);
    const payload = this.take(length);
    if (word & 0x80000000) {
      const version = (word >>> 16) & 0x7fff;
      if (version !== SPDY_VERSION) {
        throw invalidArgument(`spdy control frame of version ${version}: only version 3 is spoken`);
      }
      return decodeControl(word & 0xffff, flags, payload);
    }
    return { type: 'data', streamId: word & 0x7fffffff, flags, data: payload };
  }

  private peek(n: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length >= n) return first;
    const joined = Buffer.concat(this.chunks);
    this.chunks = [joined];
    return joined;
  }

  private take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const first = this.chunks[0]!;
    if (first.length >= n) {
      this.buffered -= n;
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    while (off < n) {
      const c = this.chunks[0]!;
      const k = Math.min(c.length, n - off);
      c.copy(out, off, 0, k);
      off += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    this.buffered -= n;
    return out;
  }
}
