import type { HeaderField } from './hpack/index.js';

/** What a stream needs from its connection; {@link H2Connection} implements it. */
export interface StreamOwner {
  /** Frames the stream's queued output as far as flow control allows. */
  pump(stream: H2Stream): void;
  /** Queues a header block (HEADERS and CONTINUATION frames). */
  sendHeaders(stream: H2Stream, fields: readonly HeaderField[], endStream: boolean): void;
  sendReset(stream: H2Stream, code: number): void;
  /** Returns receive-window credit for `n` bytes the application has taken. */
  credit(stream: H2Stream, n: number): void;
  /** The socket has more queued than it wants: writers should wait. */
  readonly congested: boolean;
  closed(stream: H2Stream): void;
}

/** Bytes queued on a stream beyond which {@link H2Stream.write} asks the writer to wait. */
const QUEUE_HIGH_WATER = 256 << 10;

/**
 * One request stream of a server connection (RFC 9113 §5.1), seen from the
 * application: the request's headers, its body through `onData`/`onEnd`,
 * and a response of headers, data and trailers. Output is queued and
 * framed by the connection under the peer's flow-control windows.
 *
 * The application hands back receive credit with {@link consumed} once it
 * has taken the bytes, which is what bounds how much a client can send
 * ahead of a slow handler.
 */
export class H2Stream {
  /** Inbound body bytes. */
  onData: ((chunk: Buffer) => void) | undefined;
  /** The client has finished sending (END_STREAM). */
  onEnd: (() => void) | undefined;
  /**
   * The stream ended before the response was complete: the client reset it
   * or the connection went away.
   */
  onAbort: (() => void) | undefined;

  /** Peer's window for what we send on this stream; may go negative after a SETTINGS change. */
  sendWindow: number;
  /** Our window for what the peer sends. */
  recvWindow: number;
  /** Body bytes taken by the application but not yet returned as stream credit. */
  unacked = 0;
  /** Body bytes received that the application has not yet taken. */
  buffered = 0;
  remoteEnded = false;
  /** END_STREAM or RST_STREAM has gone out, or the peer reset the stream. */
  done = false;

  /** Data waiting for window, in order; `trailers` go out when it is empty. */
  readonly queue: Buffer[] = [];
  queuedBytes = 0;
  trailers: readonly HeaderField[] | undefined;
  private responded = false;
  private drainWaiters: (() => void)[] = [];

  constructor(
    readonly id: number,
    readonly headers: readonly HeaderField[],
    private readonly owner: StreamOwner,
    sendWindow: number,
    recvWindow: number,
  ) {
    this.sendWindow = sendWindow;
    this.recvWindow = recvWindow;
  }

  /** The first value of a request header, by lowercase name. */
  header(name: string): string | undefined {
    for (const [n, v] of this.headers) if (n === name) return v;
    return undefined;
  }

  get headersSent(): boolean {
    return this.responded;
  }

  /** Sends the response headers; data and trailers may follow. */
  respond(fields: readonly HeaderField[]): void {
    if (this.done || this.responded) return;
    this.responded = true;
    this.owner.sendHeaders(this, fields, false);
  }

  /**
   * Queues body bytes. Returns false when the writer should wait for
   * {@link drained} before writing more.
   */
  write(data: Buffer): boolean {
    if (this.done) return true;
    if (data.length > 0) {
      this.queue.push(data);
      this.queuedBytes += data.length;
      this.owner.pump(this);
    }
    return this.queuedBytes < QUEUE_HIGH_WATER && !this.owner.congested;
  }

  /** Resolves when the stream may take more data (or has ended). */
  drained(): Promise<void> {
    if (this.done || (this.queuedBytes < QUEUE_HIGH_WATER && !this.owner.congested)) {
      return Promise.resolve();
    }
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** Called by the connection when queue or socket pressure may have eased. */
  notifyDrain(): void {
    if (this.drainWaiters.length === 0) return;
    if (!this.done && (this.queuedBytes >= QUEUE_HIGH_WATER || this.owner.congested)) return;
    const ws = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of ws) w();
  }

  get waitingForDrain(): boolean {
    return this.drainWaiters.length > 0;
  }

  /** Ends the response with trailers once the queued data has gone out. */
  end(trailers: readonly HeaderField[]): void {
    if (this.done || this.trailers !== undefined) return;
    this.trailers = trailers;
    this.owner.pump(this);
  }

  /** A response of headers only, ending the stream (gRPC's "trailers-only"). */
  respondAndEnd(fields: readonly HeaderField[]): void {
    if (this.done || this.responded) return;
    this.responded = true;
    this.owner.sendHeaders(this, fields, true);
  }

  /** Resets the stream (RST_STREAM) unless it is already over. */
  reset(code: number): void {
    if (this.done) return;
    this.owner.sendReset(this, code);
  }

  /** Returns flow-control credit for body bytes the application has taken. */
  consumed(n: number): void {
    if (n > 0) this.owner.credit(this, n);
  }

  /** Marks the stream over; `aborted` when the response did not complete. */
  finish(aborted: boolean): void {
    if (this.done) return;
    this.done = true;
    this.queue.length = 0;
    this.queuedBytes = 0;
    this.owner.closed(this);
    this.notifyDrain();
    if (aborted) this.onAbort?.();
  }
}
