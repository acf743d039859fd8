import type { Socket } from 'node:net';
import {
  DEFAULT_MAX_FRAME_SIZE,
  DEFAULT_WINDOW,
  ErrorCode,
  Flag,
  FRAME_HEADER_SIZE,
  FrameType,
  frame,
  goawayFrame,
  headersFrames,
  MAX_FRAME_SIZE_LIMIT,
  MAX_WINDOW,
  PREFACE,
  rstStreamFrame,
  Setting,
  settingsFrame,
  windowUpdateFrame,
  writeFrameHeader,
} from './frames.js';
import { encodeHeaders, type HeaderField, HpackDecoder, HpackError } from './hpack/index.js';
import { H2Stream, type StreamOwner } from './stream.js';

export interface H2ConnectionOptions {
  /** Our receive window, per stream and for the connection. */
  windowSize: number;
  /** Largest decoded request header list we accept. */
  maxHeaderListSize: number;
  /** A new request stream, its headers decoded. */
  onStream(stream: H2Stream): void;
  /** The socket has closed; every stream is over. */
  onClose?(): void;
  /**
   * The connection ended with GOAWAY: a protocol error by the peer, or
   * (code INTERNAL_ERROR, the fault as `cause`) an exception of ours.
   */
  onError?(err: ConnectionError): void;
}

/** An error that ends the whole connection with GOAWAY. */
export class ConnectionError extends Error {
  constructor(
    readonly code: number,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Bytes the socket may hold unsent before writers are asked to wait. */
const SOCKET_HIGH_WATER = 1 << 20;

/**
 * The server side of one HTTP/2 connection (RFC 9113) over a socket,
 * written for gRPC: it accepts request streams and answers them, with flow
 * control in both directions, and never pushes. All output of one turn of
 * the event loop goes to the socket in a single write, so an answer
 * (headers, message, trailers) reaches the client as one packet.
 *
 * Protocol errors by the peer end the connection with GOAWAY; errors on one
 * stream reset that stream only.
 */
export class H2Connection implements StreamOwner {
  private readonly streams = new Map<number, H2Stream>();
  private readonly decoder: HpackDecoder;
  private lastStreamId = 0;
  private prefaceSeen = false;
  /** Our SETTINGS are queued; see {@link sendPreface}. */
  private prefaceSent = false;
  private settingsSeen = false;
  /** Peer settings that shape what we send. */
  private peerInitialWindow = DEFAULT_WINDOW;
  private peerMaxFrameSize = DEFAULT_MAX_FRAME_SIZE;
  private connSendWindow = DEFAULT_WINDOW;
  private connUnacked = 0;
  /** What the peer may still send on the connection before our next WINDOW_UPDATE. */
  private connRecvWindow = DEFAULT_WINDOW;
  /** A header block in progress: HEADERS without END_HEADERS, then CONTINUATION. */
  private pendingHeaders:
    | { streamId: number; endStream: boolean; parts: Buffer[]; size: number }
    | undefined;
  private inbuf: Buffer | undefined;
  private out: Buffer[] = [];
  private outBytes = 0;
  private flushQueued = false;
  /** Streams with data waiting for window. */
  private readonly blocked = new Set<H2Stream>();
  private goingAway = false;
  private ended = false;
  private paused = false;

  constructor(
    private readonly socket: Socket,
    private readonly opts: H2ConnectionOptions,
  ) {
    this.decoder = new HpackDecoder({ maxListSize: opts.maxHeaderListSize });
    socket.setNoDelay?.(true);
    socket.on('data', (chunk: Buffer) => this.onSocketData(chunk));
    socket.on('drain', () => this.onSocketDrain());
    socket.on('error', () => {}); // 'close' follows and cleans up
    socket.on('close', () => this.onSocketClose());
  }

  /**
   * Our connection preface: SETTINGS (and the connection window beyond the
   * default), queued before any other frame we send. It waits for the
   * client's first bytes (or for anything else we send first) instead of
   * going out at accept: a client sends its preface unprompted at connect
   * (RFC 9113 §3.4), so ours then leaves in the same write as our SETTINGS
   * ACK, often with the first answer. Sent at accept, it cost a write (and
   * a wake-up of the client) of its own on every connection, and ctr opens
   * one per command.
   */
  private sendPreface(): void {
    this.prefaceSent = true;
    this.enqueue(
      settingsFrame([
        [Setting.ENABLE_PUSH, 0],
        [Setting.INITIAL_WINDOW_SIZE, this.opts.windowSize],
        [Setting.MAX_HEADER_LIST_SIZE, this.opts.maxHeaderListSize],
      ]),
    );
    if (this.opts.windowSize > DEFAULT_WINDOW) {
      this.enqueue(windowUpdateFrame(0, this.opts.windowSize - DEFAULT_WINDOW));
      this.connRecvWindow = this.opts.windowSize;
    }
  }

  /** Request streams still open. */
  get activeStreams(): number {
    return this.streams.size;
  }

  get congested(): boolean {
    return this.socket.writableLength >= SOCKET_HIGH_WATER;
  }

  /**
   * Reading is paused while the peer does not read what we wrote: a client
   * that sends requests (or PINGs) without reading the answers does not
   * grow our memory without bound; it finds its own writes blocked.
   */
  get readingPaused(): boolean {
    return this.paused;
  }

  /**
   * Graceful close: GOAWAY names the last stream we will answer; new
   * streams are refused; the socket closes once the open ones are done.
   */
  goaway(): void {
    if (this.goingAway || this.ended) return;
    this.goingAway = true;
    this.enqueue(goawayFrame(this.lastStreamId, ErrorCode.NO_ERROR));
    this.closeIfIdle();
  }

  /** Closes the socket now; open streams are aborted. */
  destroy(): void {
    this.socket.destroy();
  }

  // ---- input ----

  private onSocketData(chunk: Buffer): void {
    try {
      if (!this.prefaceSent) this.sendPreface();
      let buf: Buffer | undefined = chunk;
      if (!this.prefaceSeen) buf = this.readPreface(chunk);
      else if (this.inbuf !== undefined) buf = this.completeFrame(chunk);
      if (buf !== undefined && !this.ended) this.readFrames(buf);
    } catch (err) {
      // A fault of ours (a handler's bug) ends this connection, not the daemon.
      this.connectionError(
        err instanceof ConnectionError
          ? err
          : new ConnectionError(ErrorCode.INTERNAL_ERROR, 'internal error', { cause: err }),
      );
    }
  }

  /** Checks the client preface; returns the bytes after it once it is complete. */
  private readPreface(chunk: Buffer): Buffer | undefined {
    const buf = this.inbuf === undefined ? chunk : Buffer.concat([this.inbuf, chunk]);
    this.inbuf = undefined;
    if (buf.length < PREFACE.length) {
      if (!PREFACE.subarray(0, buf.length).equals(buf)) throw notPreface();
      this.inbuf = buf;
      return undefined;
    }
    if (!PREFACE.equals(buf.subarray(0, PREFACE.length))) throw notPreface();
    this.prefaceSeen = true;
    return buf.subarray(PREFACE.length);
  }

  /**
   * Completes the frame the last read left partial with the head of
   * `chunk`, handles it, and returns the rest of `chunk` (undefined while
   * the frame is still incomplete). Only that one frame is copied, not the
   * whole read: a read of 64 KiB copied whole each time doubled what a
   * large upload allocated.
   */
  private completeFrame(chunk: Buffer): Buffer | undefined {
    let head = this.inbuf!;
    this.inbuf = undefined;
    let rest = chunk;
    if (head.length < FRAME_HEADER_SIZE) {
      const take = Math.min(FRAME_HEADER_SIZE - head.length, rest.length);
      head = Buffer.concat([head, rest.subarray(0, take)]);
      rest = rest.subarray(take);
      if (head.length < FRAME_HEADER_SIZE) {
        this.inbuf = head;
        return undefined;
      }
    }
    const size = FRAME_HEADER_SIZE + frameLength(head, 0);
    const take = Math.min(size - head.length, rest.length);
    const frameBuf = take === 0 ? head : Buffer.concat([head, rest.subarray(0, take)]);
    if (frameBuf.length < size) {
      this.inbuf = frameBuf;
      return undefined;
    }
    this.readFrames(frameBuf);
    return rest.subarray(take);
  }

  /** Handles the whole frames in `buf` and keeps a copy of a partial one at its end. */
  private readFrames(buf: Buffer): void {
    let at = 0;
    while (buf.length - at >= FRAME_HEADER_SIZE) {
      const length = frameLength(buf, at);
      if (buf.length - at < FRAME_HEADER_SIZE + length) break;
      const type = buf[at + 3]!;
      const flags = buf[at + 4]!;
      const streamId = buf.readUInt32BE(at + 5) & MAX_WINDOW;
      const payload = buf.subarray(at + FRAME_HEADER_SIZE, at + FRAME_HEADER_SIZE + length);
      at += FRAME_HEADER_SIZE + length;
      this.onFrame(type, flags, streamId, payload);
      if (this.ended) return;
    }
    // Keep the partial frame; copy it so the socket's chunk can be freed.
    if (at < buf.length) this.inbuf = Buffer.from(buf.subarray(at));
  }

  private onFrame(type: number, flags: number, streamId: number, payload: Buffer): void {
    if (!this.settingsSeen && type !== FrameType.SETTINGS) {
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'the first frame must be SETTINGS');
    }
    if (this.pendingHeaders !== undefined && type !== FrameType.CONTINUATION) {
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'expected CONTINUATION');
    }
    switch (type) {
      case FrameType.DATA:
        this.onData(flags, streamId, payload);
        return;
      case FrameType.HEADERS:
        this.onHeaders(flags, streamId, payload);
        return;
      case FrameType.CONTINUATION:
        this.onContinuation(flags, streamId, payload);
        return;
      case FrameType.PRIORITY:
        if (streamId === 0) throw protocolError('PRIORITY on stream 0');
        if (payload.length !== 5) {
          this.streamError(streamId, ErrorCode.FRAME_SIZE_ERROR);
          return;
        }
        return;
      case FrameType.RST_STREAM:
        this.onRstStream(streamId, payload);
        return;
      case FrameType.SETTINGS:
        this.onSettings(flags, streamId, payload);
        return;
      case FrameType.PUSH_PROMISE:
        throw protocolError('a client must not send PUSH_PROMISE');
      case FrameType.PING:
        if (streamId !== 0) throw protocolError('PING on a stream');
        if (payload.length !== 8) {
          throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'PING payload must be 8 bytes');
        }
        if ((flags & Flag.ACK) === 0) this.enqueue(frame(FrameType.PING, Flag.ACK, 0, payload));
        return;
      case FrameType.GOAWAY:
        if (streamId !== 0) throw protocolError('GOAWAY on a stream');
        // The client will open no more streams; the ones open run to their end.
        this.goingAway = true;
        this.closeIfIdle();
        return;
      case FrameType.WINDOW_UPDATE:
        this.onWindowUpdate(streamId, payload);
        return;
      default:
        return; // unknown frame types are ignored (§4.1)
    }
  }

  private onSettings(flags: number, streamId: number, payload: Buffer): void {
    if (streamId !== 0) throw protocolError('SETTINGS on a stream');
    if ((flags & Flag.ACK) !== 0) {
      if (payload.length !== 0) {
        throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'SETTINGS ACK with a payload');
      }
      return;
    }
    if (payload.length % 6 !== 0) {
      throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'SETTINGS length not a multiple of 6');
    }
    this.settingsSeen = true;
    for (let at = 0; at < payload.length; at += 6) {
      const id = payload.readUInt16BE(at);
      const value = payload.readUInt32BE(at + 2);
      if (id === Setting.ENABLE_PUSH && value > 1)
        throw protocolError('ENABLE_PUSH must be 0 or 1');
      if (id === Setting.INITIAL_WINDOW_SIZE) {
        if (value > MAX_WINDOW) {
          throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, 'INITIAL_WINDOW_SIZE too large');
        }
        const delta = value - this.peerInitialWindow;
        this.peerInitialWindow = value;
        for (const s of this.streams.values()) {
          s.sendWindow += delta;
          if (s.sendWindow > MAX_WINDOW) {
            throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, 'stream window overflow');
          }
          if (delta > 0 && s.queue.length + (s.trailers ? 1 : 0) > 0) this.blocked.add(s);
        }
      }
      if (id === Setting.MAX_FRAME_SIZE) {
        if (value < DEFAULT_MAX_FRAME_SIZE || value > MAX_FRAME_SIZE_LIMIT) {
          throw protocolError(`MAX_FRAME_SIZE ${value} out of range`);
        }
        this.peerMaxFrameSize = value;
      }
      // HEADER_TABLE_SIZE needs nothing: our encoder never uses the dynamic
      // table. The others only bound what a client receives from a server
      // that pushes or answers with huge headers; berthd does neither.
    }
    this.enqueue(frame(FrameType.SETTINGS, Flag.ACK, 0));
    this.pumpBlocked();
  }

  private onWindowUpdate(streamId: number, payload: Buffer): void {
    if (payload.length !== 4) {
      throw new ConnectionError(
        ErrorCode.FRAME_SIZE_ERROR,
        'WINDOW_UPDATE payload must be 4 bytes',
      );
    }
    const inc = payload.readUInt32BE(0) & MAX_WINDOW;
    if (streamId === 0) {
      if (inc === 0) throw protocolError('WINDOW_UPDATE with increment 0');
      this.connSendWindow += inc;
      if (this.connSendWindow > MAX_WINDOW) {
        throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, 'connection window overflow');
      }
      this.pumpBlocked();
      return;
    }
    const s = this.streams.get(streamId);
    if (s === undefined) {
      if (streamId > this.lastStreamId) throw protocolError('WINDOW_UPDATE on an idle stream');
      return; // a stream we have closed
    }
    if (inc === 0) {
      this.streamError(streamId, ErrorCode.PROTOCOL_ERROR);
      return;
    }
    s.sendWindow += inc;
    if (s.sendWindow > MAX_WINDOW) {
      this.streamError(streamId, ErrorCode.FLOW_CONTROL_ERROR);
      return;
    }
    this.pump(s);
  }

  private onRstStream(streamId: number, payload: Buffer): void {
    if (streamId === 0) throw protocolError('RST_STREAM on stream 0');
    if (payload.length !== 4) {
      throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'RST_STREAM payload must be 4 bytes');
    }
    if (streamId > this.lastStreamId) throw protocolError('RST_STREAM on an idle stream');
    this.streams.get(streamId)?.finish(true);
  }

  private onHeaders(flags: number, streamId: number, payload: Buffer): void {
    if (streamId === 0 || streamId % 2 === 0) {
      throw protocolError(`HEADERS on stream ${streamId}: client streams are odd`);
    }
    let at = 0;
    let end = payload.length;
    if ((flags & Flag.PADDED) !== 0) {
      const pad = payload[0] ?? 0;
      at = 1;
      end -= pad;
    }
    if ((flags & Flag.PRIORITY) !== 0) at += 5;
    if (at > end) throw protocolError('HEADERS padding exceeds the payload');
    const block = payload.subarray(at, end);
    const endStream = (flags & Flag.END_STREAM) !== 0;
    if ((flags & Flag.END_HEADERS) === 0) {
      this.pendingHeaders = {
        streamId,
        endStream,
        parts: [Buffer.from(block)],
        size: block.length,
      };
      return;
    }
    this.onHeaderBlock(streamId, endStream, block);
  }

  private onContinuation(flags: number, streamId: number, payload: Buffer): void {
    const p = this.pendingHeaders;
    if (p === undefined || p.streamId !== streamId) {
      throw protocolError('CONTINUATION without a header block in progress on its stream');
    }
    p.parts.push(Buffer.from(payload));
    p.size += payload.length;
    if (p.size > this.opts.maxHeaderListSize * 2) {
      throw new ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, 'header block too large');
    }
    if ((flags & Flag.END_HEADERS) === 0) return;
    this.pendingHeaders = undefined;
    this.onHeaderBlock(streamId, p.endStream, Buffer.concat(p.parts, p.size));
  }

  private onHeaderBlock(streamId: number, endStream: boolean, block: Buffer): void {
    let fields: HeaderField[];
    try {
      // Decoded even for a stream we reset: the HPACK state is shared.
      fields = this.decoder.decode(block);
    } catch (err) {
      if (err instanceof HpackError) {
        throw new ConnectionError(ErrorCode.COMPRESSION_ERROR, err.message);
      }
      throw err;
    }
    const existing = this.streams.get(streamId);
    if (existing !== undefined) {
      // Trailers from the client: they must end the stream.
      if (!endStream || existing.remoteEnded) {
        this.streamError(streamId, ErrorCode.PROTOCOL_ERROR);
        return;
      }
      this.remoteEnd(existing);
      return;
    }
    if (streamId <= this.lastStreamId) return; // a stream already closed
    this.lastStreamId = streamId;
    if (this.goingAway) {
      this.enqueue(rstStreamFrame(streamId, ErrorCode.REFUSED_STREAM));
      return;
    }
    const s = new H2Stream(streamId, fields, this, this.peerInitialWindow, this.opts.windowSize);
    this.streams.set(streamId, s);
    // Half-closed before onStream runs: an answer given there closes the
    // stream, and must not be followed by a RST_STREAM (§5.1, §8.1).
    s.remoteEnded = endStream;
    this.opts.onStream(s);
    if (endStream && !s.done) s.onEnd?.();
  }

  private onData(flags: number, streamId: number, payload: Buffer): void {
    if (streamId === 0) throw protocolError('DATA on stream 0');
    let data = payload;
    if ((flags & Flag.PADDED) !== 0) {
      const pad = payload[0] ?? 0;
      if (1 + pad > payload.length) throw protocolError('DATA padding exceeds the payload');
      data = payload.subarray(1, payload.length - pad);
    }
    // The whole frame counts against the windows; padding and data for a
    // stream that is gone are credited back at once.
    this.connRecvWindow -= payload.length;
    if (this.connRecvWindow < 0) {
      throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, 'DATA beyond the connection window');
    }
    const s = this.streams.get(streamId);
    if (s === undefined || s.remoteEnded) {
      if (streamId > this.lastStreamId) throw protocolError('DATA on an idle stream');
      this.creditConnection(payload.length);
      if (s !== undefined) this.streamError(streamId, ErrorCode.STREAM_CLOSED);
      return;
    }
    s.recvWindow -= payload.length;
    if (s.recvWindow < 0) {
      this.creditConnection(payload.length);
      this.streamError(streamId, ErrorCode.FLOW_CONTROL_ERROR);
      return;
    }
    if (payload.length > data.length) {
      // Padding is taken at once: credited to the stream as to the connection,
      // or each padded frame would shrink the stream's window for good.
      s.buffered += payload.length - data.length;
      this.credit(s, payload.length - data.length);
    }
    if (data.length > 0) {
      s.buffered += data.length;
      s.onData?.(data);
    }
    if ((flags & Flag.END_STREAM) !== 0) this.remoteEnd(s);
  }

  private remoteEnd(s: H2Stream): void {
    s.remoteEnded = true;
    if (!s.done) s.onEnd?.();
  }

  // ---- output (StreamOwner) ----

  sendHeaders(s: H2Stream, fields: readonly HeaderField[], endStream: boolean): void {
    this.enqueue(headersFrames(s.id, encodeHeaders(fields), endStream, this.peerMaxFrameSize));
    if (endStream) this.localEnd(s);
  }

  sendReset(s: H2Stream, code: number): void {
    this.enqueue(rstStreamFrame(s.id, code));
    s.finish(true);
  }

  credit(s: H2Stream, n: number): void {
    if (s.done) return; // its whole remainder was credited when it closed
    s.buffered -= n;
    if (!s.remoteEnded) {
      s.unacked += n;
      // Credit back in steps of a quarter window: few WINDOW_UPDATEs, never a stall.
      if (s.unacked >= this.opts.windowSize >> 2) {
        this.enqueue(windowUpdateFrame(s.id, s.unacked));
        s.recvWindow += s.unacked;
        s.unacked = 0;
      }
    }
    this.creditConnection(n);
  }

  private creditConnection(n: number): void {
    this.connUnacked += n;
    if (this.connUnacked >= this.opts.windowSize >> 2) {
      this.enqueue(windowUpdateFrame(0, this.connUnacked));
      this.connRecvWindow += this.connUnacked;
      this.connUnacked = 0;
    }
  }

  pump(s: H2Stream): void {
    if (s.done) return;
    while (s.queue.length > 0) {
      const allowed = Math.min(s.sendWindow, this.connSendWindow, this.peerMaxFrameSize);
      if (allowed <= 0) {
        this.blocked.add(s);
        return;
      }
      const head = s.queue[0]!;
      const n = Math.min(head.length, allowed);
      const header = Buffer.allocUnsafe(FRAME_HEADER_SIZE);
      writeFrameHeader(header, 0, n, FrameType.DATA, 0, s.id);
      this.enqueue(header);
      if (n === head.length) {
        this.enqueue(head);
        s.queue.shift();
      } else {
        this.enqueue(head.subarray(0, n));
        s.queue[0] = head.subarray(n);
      }
      s.queuedBytes -= n;
      s.sendWindow -= n;
      this.connSendWindow -= n;
    }
    this.blocked.delete(s);
    if (s.trailers !== undefined) {
      this.sendHeaders(s, s.trailers, true);
      return;
    }
    s.notifyDrain();
  }

  private pumpBlocked(): void {
    for (const s of [...this.blocked]) {
      if (this.connSendWindow <= 0) return;
      this.pump(s);
    }
  }

  /** Our END_STREAM went out. A client still sending is told to stop (§8.1). */
  private localEnd(s: H2Stream): void {
    if (!s.remoteEnded) this.enqueue(rstStreamFrame(s.id, ErrorCode.NO_ERROR));
    s.finish(false);
  }

  closed(s: H2Stream): void {
    this.streams.delete(s.id);
    this.blocked.delete(s);
    // What the application never took is credited back, so the connection
    // window does not shrink by what a finished stream held.
    if (s.buffered > 0) this.creditConnection(s.buffered);
    s.buffered = 0;
    this.closeIfIdle();
  }

  private streamError(streamId: number, code: number): void {
    const s = this.streams.get(streamId);
    this.enqueue(rstStreamFrame(streamId, code));
    s?.finish(true);
  }

  private connectionError(err: ConnectionError): void {
    this.opts.onError?.(err);
    this.enqueue(goawayFrame(this.lastStreamId, err.code, err.message));
    this.endSocket();
  }

  private closeIfIdle(): void {
    if (this.goingAway && this.streams.size === 0 && !this.ended) this.endSocket();
  }

  /** Writes what is queued and closes our side; nothing more is sent. */
  private endSocket(): void {
    this.flush();
    this.ended = true;
    this.socket.end();
    // A peer that does not close its side is not waited for.
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  private enqueue(b: Buffer): void {
    if (this.ended || this.socket.destroyed) return;
    if (!this.prefaceSent) this.sendPreface();
    this.out.push(b);
    this.outBytes += b.length;
    if (!this.flushQueued) {
      this.flushQueued = true;
      // After this turn's promise jobs too: a handler that sends its last
      // message and then returns has its trailers in the same write.
      setImmediate(() => this.flush());
    }
  }

  /** Writes everything queued in this turn as one write (or one writev). */
  private flush(): void {
    this.flushQueued = false;
    const out = this.out;
    if (out.length === 0 || this.socket.destroyed) return;
    const bytes = this.outBytes;
    this.out = [];
    this.outBytes = 0;
    if (out.length === 1) {
      this.socket.write(out[0]!);
    } else if (bytes <= 64 << 10) {
      this.socket.write(Buffer.concat(out, bytes));
    } else {
      this.socket.cork();
      for (const b of out) this.socket.write(b);
      this.socket.uncork();
    }
    if (this.congested && !this.paused) {
      this.paused = true;
      this.socket.pause();
    }
  }

  private onSocketDrain(): void {
    if (this.paused) {
      this.paused = false;
      this.socket.resume();
    }
    for (const s of this.streams.values()) if (s.waitingForDrain) s.notifyDrain();
  }

  private onSocketClose(): void {
    this.ended = true;
    for (const s of [...this.streams.values()]) s.finish(true);
    this.streams.clear();
    this.blocked.clear();
    this.opts.onClose?.();
  }
}

/** The length field of the frame header at `at`, refused above our SETTINGS_MAX_FRAME_SIZE. */
function frameLength(buf: Buffer, at: number): number {
  const length = buf.readUIntBE(at, 3);
  if (length > DEFAULT_MAX_FRAME_SIZE) {
    throw new ConnectionError(
      ErrorCode.FRAME_SIZE_ERROR,
      `frame of ${length} bytes exceeds SETTINGS_MAX_FRAME_SIZE ${DEFAULT_MAX_FRAME_SIZE}`,
    );
  }
  return length;
}

function protocolError(message: string): ConnectionError {
  return new ConnectionError(ErrorCode.PROTOCOL_ERROR, message);
}

function notPreface(): ConnectionError {
  return new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'not the HTTP/2 client preface');
}
