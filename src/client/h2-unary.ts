/**
 * @module
 * Unary gRPC calls over a small HTTP/2 client connection of berth's own,
 * on node:net: for short-lived commands that make a few calls and exit
 * (`berth ps`), where loading node:http2 (and the tls, http and assert
 * modules it loads) costs more than the calls. Enough of HTTP/2 (RFC 9113)
 * for that: the preface and SETTINGS, requests as a HEADERS frame of plain
 * literals and one DATA frame, answers' HEADERS/CONTINUATION (HPACK,
 * h2-hpack.ts) and DATA, PING, RST_STREAM and GOAWAY. Flow control: the
 * windows this side announces (2^31 - 1) are never used up by what such a
 * command reads, so it sends no WINDOW_UPDATE after the first.
 */
import { connect, type Socket } from 'node:net';
import { HeaderDecoder } from './h2-hpack.js';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const DATA = 0x0;
const HEADERS = 0x1;
const RST_STREAM = 0x3;
const SETTINGS = 0x4;
const PING = 0x6;
const GOAWAY = 0x7;
const CONTINUATION = 0x9;
const END_STREAM = 0x1;
const ACK = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY = 0x20;
const MAX_WINDOW = 2 ** 31 - 1;
/** The default initial window (RFC 9113 §6.9.2), which the connection's window starts at. */
const DEFAULT_WINDOW = 65535;

/** What a call answered: its gRPC status (undefined when the peer sent none), message and body. */
export interface UnaryAnswer {
  status: number | undefined;
  message: string;
  /** The DATA of the answer, gRPC's length-prefixed messages. */
  body: Buffer;
}

interface Pending {
  resolve(a: UnaryAnswer): void;
  reject(err: Error): void;
  headers: [string, string][];
  chunks: Buffer[];
}

function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const f = Buffer.allocUnsafe(9 + payload.length);
  f.writeUIntBE(payload.length, 0, 3);
  f[3] = type;
  f[4] = flags;
  f.writeUInt32BE(stream, 5);
  payload.copy(f, 9);
  return f;
}

/** A header block of literals without indexing, new names, no Huffman (RFC 7541 §6.2.2). */
function headerBlock(fields: readonly [string, string][]): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of fields) {
    const n = Buffer.from(name, 'latin1');
    const v = Buffer.from(value, 'latin1');
    parts.push(Buffer.from([0]), hpackLength(n.length), n, hpackLength(v.length), v);
  }
  return Buffer.concat(parts);
}

/** A string length with a 7-bit prefix and the Huffman bit clear (RFC 7541 §5.1). */
function hpackLength(n: number): Buffer {
  if (n < 127) return Buffer.from([n]);
  const out = [127];
  let rest = n - 127;
  while (rest >= 128) {
    out.push((rest % 128) | 0x80);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return Buffer.from(out);
}

/**
 * One connection to a gRPC server on a unix socket. Calls may be made at
 * once (before the socket connects); a connection failure fails every call
 * with the socket's error, which {@link H2UnaryConnection.failure} also
 * holds. `close` destroys the socket.
 */
export class H2UnaryConnection {
  private readonly socket: Socket;
  private readonly streams = new Map<number, Pending>();
  private readonly decoder = new HeaderDecoder();
  private nextStream = 1;
  private buffered: Buffer = Buffer.alloc(0);
  /** The HEADERS block being continued: its stream, END_STREAM, fragments. */
  private continued: { stream: number; end: boolean; fragments: Buffer[] } | undefined;
  failure: Error | undefined;

  constructor(socketPath: string) {
    this.socket = connect(socketPath);
    const settings = Buffer.alloc(12);
    settings.writeUInt16BE(0x2, 0); // SETTINGS_ENABLE_PUSH
    settings.writeUInt32BE(0, 2);
    settings.writeUInt16BE(0x4, 6); // SETTINGS_INITIAL_WINDOW_SIZE
    settings.writeUInt32BE(MAX_WINDOW, 8);
    const increment = Buffer.alloc(4);
    increment.writeUInt32BE(MAX_WINDOW - DEFAULT_WINDOW, 0);
    this.socket.write(
      Buffer.concat([
        PREFACE,
        frame(SETTINGS, 0, 0, settings),
        frame(0x8, 0, 0, increment), // WINDOW_UPDATE of the connection
      ]),
    );
    this.socket.on('data', (b: Buffer) => this.receive(b));
    this.socket.on('error', (err) => this.fail(err));
    this.socket.on('close', () => this.fail(new Error('connection closed')));
  }

  /**
   * Makes a call: POST `path` with `headers` (after the pseudo-headers and
   * gRPC's content-type and te) and `body`; resolves when the answer's
   * stream ends.
   */
  call(path: string, headers: readonly [string, string][], body: Buffer): Promise<UnaryAnswer> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const id = this.nextStream;
    this.nextStream += 2;
    const block = headerBlock([
      [':method', 'POST'],
      [':scheme', 'http'],
      [':path', path],
      [':authority', 'localhost'],
      ['content-type', 'application/grpc'],
      ['te', 'trailers'],
      ...headers,
    ]);
    return new Promise((resolve, reject) => {
      this.streams.set(id, { resolve, reject, headers: [], chunks: [] });
      this.socket.write(
        Buffer.concat([frame(HEADERS, END_HEADERS, id, block), frame(DATA, END_STREAM, id, body)]),
      );
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const p of this.streams.values()) p.reject(this.failure);
    this.streams.clear();
    this.socket.destroy();
  }

  private receive(b: Buffer): void {
    this.buffered = this.buffered.length === 0 ? b : Buffer.concat([this.buffered, b]);
    try {
      while (this.buffered.length >= 9) {
        const length = this.buffered.readUIntBE(0, 3);
        if (this.buffered.length < 9 + length) break;
        const type = this.buffered[3] as number;
        const flags = this.buffered[4] as number;
        const stream = this.buffered.readUInt32BE(5) & 0x7fffffff;
        const payload = this.buffered.subarray(9, 9 + length);
        this.buffered = this.buffered.subarray(9 + length);
        this.frame(type, flags, stream, payload);
      }
    } catch (err) {
      this.fail(err as Error);
    }
  }

  private frame(type: number, flags: number, stream: number, payload: Buffer): void {
    if (this.continued !== undefined && type !== CONTINUATION) {
      throw new Error('HTTP/2: a frame inside a header block');
    }
    switch (type) {
      case DATA:
        this.streams.get(stream)?.chunks.push(unpad(payload, flags));
        if (flags & END_STREAM) this.end(stream);
        return;
      case HEADERS: {
        let fragment = unpad(payload, flags);
        if (flags & PRIORITY) fragment = fragment.subarray(5);
        this.continued = { stream, end: (flags & END_STREAM) !== 0, fragments: [fragment] };
        if (flags & END_HEADERS) this.headersDone();
        return;
      }
      case CONTINUATION:
        if (this.continued === undefined || this.continued.stream !== stream) {
          throw new Error('HTTP/2: CONTINUATION without its HEADERS');
        }
        this.continued.fragments.push(payload);
        if (flags & END_HEADERS) this.headersDone();
        return;
      case RST_STREAM: {
        const p = this.streams.get(stream);
        this.streams.delete(stream);
        p?.reject(new Error(`stream reset by the peer (code ${payload.readUInt32BE(0)})`));
        return;
      }
      case SETTINGS:
        if ((flags & ACK) === 0) this.socket.write(frame(SETTINGS, ACK, 0, Buffer.alloc(0)));
        return;
      case PING:
        if ((flags & ACK) === 0) this.socket.write(frame(PING, ACK, 0, Buffer.from(payload)));
        return;
      case GOAWAY: {
        // Streams above the last one the peer processed were not.
        const last = payload.readUInt32BE(0) & 0x7fffffff;
        for (const [id, p] of this.streams) {
          if (id > last) {
            this.streams.delete(id);
            p.reject(new Error('the daemon is going away'));
          }
        }
        return;
      }
      default:
      // WINDOW_UPDATE, PRIORITY, unknown types: nothing to do.
    }
  }

  private headersDone(): void {
    const c = this.continued as { stream: number; end: boolean; fragments: Buffer[] };
    this.continued = undefined;
    const fields = this.decoder.decode(Buffer.concat(c.fragments));
    this.streams.get(c.stream)?.headers.push(...fields);
    if (c.end) this.end(c.stream);
  }

  private end(stream: number): void {
    const p = this.streams.get(stream);
    if (p === undefined) return;
    this.streams.delete(stream);
    let status: number | undefined;
    let message = '';
    for (const [name, value] of p.headers) {
      if (name === 'grpc-status') status = Number(value);
      else if (name === 'grpc-message') message = percentDecoded(value);
    }
    p.resolve({ status, message, body: Buffer.concat(p.chunks) });
  }
}

/** A frame's payload without its padding (PADDED flag: a length octet, then padding at the end). */
function unpad(payload: Buffer, flags: number): Buffer {
  if ((flags & PADDED) === 0) return payload;
  const pad = payload[0] as number;
  if (pad >= payload.length) throw new Error('HTTP/2: padding past the frame');
  return payload.subarray(1, payload.length - pad);
}

/** grpc-message's percent-encoding undone; a malformed one is taken as it is. */
function percentDecoded(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
