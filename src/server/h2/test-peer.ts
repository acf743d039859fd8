/**
 * A raw HTTP/2 client for tests: it writes whatever bytes a test gives it
 * and parses what the server answers into frames, remembering in which
 * socket read each frame arrived.
 */
import { connect, type Socket } from 'node:net';
import {
  FRAME_HEADER_SIZE,
  FrameType,
  frame,
  PREFACE,
  readFrameHeader,
  settingsFrame,
} from './frames.js';
import { encodeHeaders, type HeaderField, HpackDecoder } from './hpack/index.js';

export interface Frame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
  /** Index of the socket read ('data' event) holding the frame's first byte. */
  firstChunk: number;
  /** Index of the socket read holding its last byte. */
  lastChunk: number;
}

export interface Goaway {
  lastStreamId: number;
  code: number;
  debug: string;
}

export class RawPeer {
  /** Every 'data' chunk, in order. */
  readonly chunks: Buffer[] = [];
  /** Every frame received, in order. */
  readonly frames: Frame[] = [];
  /** Resolves when the server has closed its side (or the socket closed). */
  readonly ended: Promise<void>;
  private cursor = 0;
  private buf = Buffer.alloc(0);
  private bufStartChunk = 0;
  private done = false;
  private wake: (() => void) | undefined;
  private readonly decoder = new HpackDecoder({ maxListSize: 1 << 24 });

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => {});
    this.ended = new Promise((resolve) => {
      const end = () => {
        this.done = true;
        this.wake?.();
        resolve();
      };
      socket.once('end', end);
      socket.once('close', end);
    });
  }

  static connect(path: string): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const s = connect(path);
      s.once('error', reject);
      s.once('connect', () => {
        s.off('error', reject);
        resolve(new RawPeer(s));
      });
    });
  }

  send(...bufs: Buffer[]): void {
    this.socket.write(Buffer.concat(bufs));
  }

  /** Client preface and a SETTINGS frame. */
  handshake(settings: ReadonlyArray<readonly [number, number]> = []): void {
    this.send(PREFACE, settingsFrame(settings));
  }

  /** A HEADERS frame carrying `fields` (END_HEADERS set, plus `flags`). */
  static headers(streamId: number, fields: readonly HeaderField[], flags = 0): Buffer {
    return frame(FrameType.HEADERS, flags | 0x4, streamId, encodeHeaders(fields));
  }

  /** The next frame matching `pred` after the last one returned; frames before it are skipped. */
  async next(pred: (f: Frame) => boolean = () => true, what = 'a frame'): Promise<Frame> {
    for (;;) {
      while (this.cursor < this.frames.length) {
        const f = this.frames[this.cursor++]!;
        if (pred(f)) return f;
      }
      if (this.done) throw new Error(`connection ended before ${what} arrived`);
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      this.wake = undefined;
    }
  }

  /** Frames returned or skipped by {@link next} so far. */
  get seen(): Frame[] {
    return this.frames.slice(0, this.cursor);
  }

  nextOfType(type: number, streamId?: number): Promise<Frame> {
    return this.next(
      (f) => f.type === type && (streamId === undefined || f.streamId === streamId),
      `frame type ${type}`,
    );
  }

  async goaway(): Promise<Goaway> {
    const f = await this.nextOfType(FrameType.GOAWAY);
    return {
      lastStreamId: f.payload.readUInt32BE(0) & 0x7fff_ffff,
      code: f.payload.readUInt32BE(4),
      debug: f.payload.subarray(8).toString('utf8'),
    };
  }

  /** The fields of a HEADERS frame the server sent (it never splits small blocks). */
  decode(f: Frame): HeaderField[] {
    return this.decoder.decode(f.payload);
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    const index = this.chunks.length;
    this.chunks.push(chunk);
    if (this.buf.length === 0) this.bufStartChunk = index;
    this.buf = Buffer.concat([this.buf, chunk]);
    while (this.buf.length >= FRAME_HEADER_SIZE) {
      const h = readFrameHeader(this.buf, 0);
      if (this.buf.length < FRAME_HEADER_SIZE + h.length) break;
      this.frames.push({
        ...h,
        payload: Buffer.from(this.buf.subarray(FRAME_HEADER_SIZE, FRAME_HEADER_SIZE + h.length)),
        firstChunk: this.bufStartChunk,
        lastChunk: index,
      });
      this.buf = this.buf.subarray(FRAME_HEADER_SIZE + h.length);
      this.bufStartChunk = index;
    }
    this.wake?.();
  }
}
