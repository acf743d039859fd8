import { Duplex } from 'node:stream';
import { RstStatus } from './frames.js';
import { type Headers, headerValue } from './header-block.js';

/** What a {@link SpdyStream} needs of its connection. */
export interface StreamSession {
  /** Sends `data` as DATA frames, calling `done` once the socket took it (or dropped it: closed, reset). */
  sendData(stream: SpdyStream, data: Buffer, done: () => void): void;
  sendFin(stream: SpdyStream): void;
  sendReply(stream: SpdyStream): void;
  sendReset(stream: SpdyStream, status: number): void;
  /** The reader took bytes off the stream: credit the peer's windows, maybe read the socket again. */
  consumed(stream: SpdyStream): void;
  /** The stream is done with (both sides closed, reset or destroyed). */
  release(stream: SpdyStream): void;
}

/** Bytes buffered on either side of one stream before back-pressure applies (SPDY/3's initial window). */
export const STREAM_BUFFER = 64 * 1024;

/**
 * One SPDY stream as a Node Duplex: what the peer sends is readable (ending at its FIN), what is written goes out as
 * DATA frames (end() sends the FIN). Streams never emit 'error', so handing one to code that attaches no error
 * listener is safe. A stream the peer resets ends its readable side and drops later writes (as writes to a reset
 * spdystream stream go nowhere) and emits 'reset'; when the connection is gone the stream is also destroyed once
 * what came before is read, so that writers see it closed and stop.
 */
export class SpdyStream extends Duplex {
  /** Set when our SYN_REPLY went out (or the peer's came in, for streams we opened). */
  replied = false;
  /** We sent our FIN (or may not send: unidirectional). */
  localClosed = false;
  /** The peer sent its FIN. */
  remoteClosed = false;
  /** A RST_STREAM went either way, or the connection is gone. */
  isReset = false;
  /** The peer's window for this stream (counted only once the peer shows it does flow control). */
  sendWindow: number;
  /** A write waiting for window, resumed by WINDOW_UPDATE. */
  blocked: (() => void) | undefined;
  /** Bytes received and pushed to the readable side; bytes of those credited back to the peer. */
  received = 0;
  credited = 0;
  private readonly onReply: (() => void)[] = [];

  constructor(
    private readonly session: StreamSession,
    readonly id: number,
    readonly headers: Headers,
    sendWindow: number,
  ) {
    super({
      allowHalfOpen: true,
      readableHighWaterMark: STREAM_BUFFER,
      writableHighWaterMark: STREAM_BUFFER,
    });
    this.sendWindow = sendWindow;
  }

  /** The first value of a header of the SYN_STREAM that opened the stream. */
  header(name: string): string | undefined {
    return headerValue(this.headers, name);
  }

  /** Accepts a stream the peer opened: sends the SYN_REPLY. */
  accept(): void {
    if (this.replied || this.isReset) return;
    this.session.sendReply(this);
    this.markReplied();
  }

  /** Resets the stream (RST_STREAM, CANCEL unless told): no more data either way. */
  reset(status: number = RstStatus.Cancel): void {
    if (!this.isReset) {
      this.isReset = true;
      this.session.sendReset(this, status);
      this.endReadable();
    }
    this.destroy();
  }

  markReplied(): void {
    this.replied = true;
    for (const f of this.onReply.splice(0)) f();
  }

  /** Data from the peer. */
  receive(data: Buffer): void {
    if (this.remoteClosed || this.isReset) return;
    this.received += data.length;
    this.push(data);
  }

  /** The peer's FIN. */
  receiveFin(): void {
    this.endReadable();
    if (this.localClosed) this.session.release(this);
  }

  /** The peer reset the stream, or the connection is gone. */
  receiveReset(status: number): void {
    if (this.isReset) return;
    this.isReset = true;
    this.endReadable();
    this.session.release(this);
    for (const f of this.onReply.splice(0)) f();
    this.emit('reset', status);
  }

  /**
   * The connection is gone: the readable side ends (what came before stays readable) and the stream is destroyed
   * once that is read, so writers see it closed (a pipeline into it fails, pipe() stops) and stop producing.
   */
  connectionLost(): void {
    this.receiveReset(RstStatus.Cancel);
    if (this.readableLength > 0 && !this.readableEnded) this.once('end', () => this.destroy());
    else this.destroy();
  }

  private endReadable(): void {
    if (this.remoteClosed) return;
    this.remoteClosed = true;
    this.push(null);
  }

  override _read(): void {
    this.session.consumed(this);
  }

  // Every way of consuming a Readable (read(), 'data', pipe, async iteration) goes through read(): it is where
  // taken bytes are seen, while _read is not called again until the next push.
  override read(size?: number): any {
    const chunk = super.read(size);
    this.session.consumed(this);
    return chunk;
  }

  // for-await over a Readable destroys it when the loop ends, which for this Duplex would also end the side that
  // writes to the client (a port-forward would lose its answer once the client half-closes): not here.
  override [Symbol.asyncIterator](): AsyncIterableIterator<any> {
    return this.iterator({ destroyOnReturn: false });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.isReset || this.localClosed) {
      cb();
      return;
    }
    if (!this.replied) {
      this.onReply.push(() => this._write(chunk, _enc, cb));
      return;
    }
    this.session.sendData(this, chunk, () => cb());
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.isReset || this.localClosed) {
      cb();
      return;
    }
    if (!this.replied) {
      this.onReply.push(() => this._final(cb));
      return;
    }
    this.localClosed = true;
    this.session.sendFin(this);
    if (this.remoteClosed) this.session.release(this);
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!this.isReset && !(this.localClosed && this.remoteClosed)) {
      this.isReset = true;
      this.session.sendReset(this, RstStatus.Cancel);
    }
    this.session.release(this);
    // Never surface an error from here: see the class comment.
    void err;
    cb(null);
  }
}
