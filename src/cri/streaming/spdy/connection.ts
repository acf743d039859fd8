import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import type { Logger } from '../../../core/log/index.js';
import {
  encodeDataHeader,
  encodeGoAway,
  encodePing,
  encodeRstStream,
  encodeSynReply,
  encodeSynStream,
  encodeWindowUpdate,
  FLAG_FIN,
  FLAG_UNIDIRECTIONAL,
  type Frame,
  FrameReader,
  GoAwayStatus,
  MAX_FRAME_LENGTH,
  RstStatus,
  SettingsId,
} from './frames.js';
import { decodeHeaderBlock, encodeHeaderBlock, type Headers } from './header-block.js';
import { HeaderCompressor, HeaderDecompressor } from './header-compression.js';
import { SpdyStream, type StreamSession } from './stream.js';

/** SPDY/3.1's initial stream and session windows. */
export const INITIAL_WINDOW = 64 * 1024;
/** The largest DATA frame sent. */
const MAX_DATA_FRAME = 32 * 1024;
/** Control frames carry headers only: far below this. DATA frames are accepted up to SPDY's 24-bit maximum. */
const MAX_CONTROL_FRAME = 1 << 20;

export interface SpdyConnectionOptions {
  /** 'server' accepts odd stream ids from the peer and opens even ones; 'client' the reverse. */
  role: 'server' | 'client';
  log: Logger;
  /** Bytes received and not yet read by the streams' readers above which the socket is not read (default 1 MiB). */
  maxBufferedInbound?: number;
  /** Closes the connection after this long without a frame either way (0: never). */
  idleTimeoutMs?: number;
  /** Streams open at once, at most; more are refused (RST_STREAM REFUSED_STREAM). Default 1000. */
  maxStreams?: number;
}

/**
 * One SPDY/3.1 connection over a socket (after the HTTP/1.1 Upgrade), as moby/spdystream speaks it: streams opened
 * by SYN_STREAM and accepted by SYN_REPLY, half-closed by a FIN flag, reset by RST_STREAM; PING echoed; GOAWAY then
 * the socket's end to close. Emits 'stream' (a {@link SpdyStream} the peer opened: accept() or reset() it), 'goaway'
 * and 'close' (once, when the socket is gone).
 *
 * Flow control: spdystream neither sends WINDOW_UPDATE nor honours windows, so the peer's windows are enforced on
 * what is sent only once the peer shows it does SPDY/3.1 flow control (a WINDOW_UPDATE, or SETTINGS with an
 * initial window); what is read is credited back to the peer as WINDOW_UPDATEs either way (spdystream ignores them).
 * Memory stays bounded without the peer's help: a write completes only once the socket took it (so a slow reader
 * slows the writer), and the socket is not read while more than `maxBufferedInbound` bytes wait for the streams'
 * readers (so a slow reader slows the peer). As in spdystream, one stream nobody reads holds up the others.
 */
export class SpdyConnection extends EventEmitter implements StreamSession {
  readonly streams = new Map<number, SpdyStream>();
  private readonly reader = new FrameReader(MAX_FRAME_LENGTH, MAX_CONTROL_FRAME);
  private readonly compressor = new HeaderCompressor();
  private readonly decompressor = new HeaderDecompressor();
  private readonly log: Logger;
  private readonly maxBufferedInbound: number;
  private nextStreamId: number;
  private lastPeerStreamId = 0;
  private nextPingId: number;
  private readonly pings = new Map<number, () => void>();
  private readonly opening = new Map<
    number,
    { resolve: (s: SpdyStream) => void; reject: (e: Error) => void }
  >();
  /** Set once the peer sent a WINDOW_UPDATE or an initial window: from then on its windows are honoured. */
  private flowControlled = false;
  private initialSendWindow = INITIAL_WINDOW;
  private sessionSendWindow = INITIAL_WINDOW;
  private sessionCreditDue = 0;
  private inboundBuffered = 0;
  private readPaused = false;
  private readonly drainWaiters: (() => void)[] = [];
  private sentGoAway = false;
  private gone = false;
  private endTimer: NodeJS.Timeout | undefined;
  readonly closed: Promise<void>;
  private resolveClosed!: () => void;

  constructor(
    private readonly socket: Socket,
    private readonly opts: SpdyConnectionOptions,
    head?: Buffer,
  ) {
    super();
    this.log = opts.log;
    this.maxBufferedInbound = opts.maxBufferedInbound ?? 1 << 20;
    this.nextStreamId = opts.role === 'server' ? 2 : 1;
    this.nextPingId = opts.role === 'server' ? 2 : 1;
    this.closed = new Promise((resolve) => {
      this.resolveClosed = resolve;
    });
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onSocketData(chunk));
    socket.on('drain', () => {
      for (const f of this.drainWaiters.splice(0)) f();
    });
    socket.on('end', () => {
      // The peer will send nothing more: nothing can go on (the protocol has no half-closed connection).
      this.socket.end();
      this.teardown();
    });
    socket.on('error', (err) => {
      this.log.debug({ err: err.message }, 'spdy connection: socket error');
      this.teardown();
    });
    socket.on('close', () => this.teardown());
    // A socket handed over paused (after an HTTP exchange) would not flow by itself.
    socket.resume();
    if (opts.idleTimeoutMs) {
      socket.setTimeout(opts.idleTimeoutMs, () => {
        this.log.debug({ idleTimeoutMs: opts.idleTimeoutMs }, 'spdy connection: idle, closing');
        this.close();
      });
    }
    // After the caller's listeners are on: the head may hold the first frames.
    if (head && head.length > 0) queueMicrotask(() => this.onSocketData(head));
  }

  /** True once the socket is gone. */
  get isClosed(): boolean {
    return this.gone;
  }

  /**
   * Opens a stream (SYN_STREAM) and resolves once the peer accepted it (SYN_REPLY); rejects if it resets it or the
   * connection ends first.
   */
  openStream(headers: Headers, opts: { fin?: boolean } = {}): Promise<SpdyStream> {
    if (this.gone || this.sentGoAway) return Promise.reject(new Error('spdy connection is closed'));
    const id = this.nextStreamId;
    this.nextStreamId += 2;
    const stream = this.newStream(id, headers);
    const block = this.compressor.compress(encodeHeaderBlock(headers));
    this.write(encodeSynStream(id, block, { flags: opts.fin ? FLAG_FIN : 0 }));
    if (opts.fin) stream.localClosed = true;
    return new Promise((resolve, reject) => this.opening.set(id, { resolve, reject }));
  }

  /** Sends a PING and resolves with the round trip in milliseconds. */
  ping(): Promise<number> {
    if (this.gone) return Promise.reject(new Error('spdy connection is closed'));
    const id = this.nextPingId;
    this.nextPingId =
      this.nextPingId >= 0x7ffffffe ? this.nextPingId - 0x7ffffffe : this.nextPingId + 2;
    const start = performance.now();
    return new Promise((resolve, reject) => {
      this.pings.set(id, () => {
        if (this.gone) reject(new Error('spdy connection closed before the PING reply'));
        else resolve(performance.now() - start);
      });
      this.write(encodePing(id));
    });
  }

  /**
   * Closes as spdystream does: resets the streams not yet closed by us, sends GOAWAY and ends the socket (destroyed
   * if the peer does not close its side within `graceMs`). Resolves when the socket is gone.
   */
  close(graceMs = 5000): Promise<void> {
    if (!this.gone) {
      for (const s of [...this.streams.values()]) {
        if (!s.localClosed) s.reset(RstStatus.Cancel);
        else s.receiveReset(RstStatus.Cancel);
      }
      this.goAway(GoAwayStatus.Ok);
      this.socket.end();
      this.endTimer ??= setTimeout(() => this.socket.destroy(), graceMs).unref();
    }
    return this.closed;
  }

  /** Ends the connection at once. */
  destroy(): void {
    this.socket.destroy();
    this.teardown();
  }

  // StreamSession

  sendData(stream: SpdyStream, data: Buffer, done: () => void): void {
    let off = 0;
    const step = (): void => {
      while (off < data.length) {
        if (this.gone || stream.isReset) {
          done();
          return;
        }
        let n = Math.min(data.length - off, MAX_DATA_FRAME);
        if (this.flowControlled) {
          n = Math.min(n, stream.sendWindow, this.sessionSendWindow);
          if (n <= 0) {
            stream.blocked = step;
            return;
          }
          stream.sendWindow -= n;
          this.sessionSendWindow -= n;
        }
        const frame = Buffer.concat([
          encodeDataHeader(stream.id, n, false),
          data.subarray(off, off + n),
        ]);
        off += n;
        if (!this.socket.write(frame)) {
          this.drainWaiters.push(step);
          return;
        }
      }
      done();
    };
    step();
  }

  sendFin(stream: SpdyStream): void {
    this.write(encodeDataHeader(stream.id, 0, true));
  }

  sendReply(stream: SpdyStream): void {
    const block = this.compressor.compress(encodeHeaderBlock({}));
    this.write(encodeSynReply(stream.id, block));
  }

  sendReset(stream: SpdyStream, status: number): void {
    this.write(encodeRstStream(stream.id, status));
  }

  consumed(stream: SpdyStream): void {
    const taken = stream.received - stream.readableLength;
    const due = taken - stream.credited;
    if (due <= 0) return;
    // Credit in steps (not per read) unless the reader caught up.
    if (due < INITIAL_WINDOW / 4 && stream.readableLength > 0) return;
    stream.credited = taken;
    this.credit(due);
    if (!stream.remoteClosed) this.write(encodeWindowUpdate(stream.id, due));
  }

  release(stream: SpdyStream): void {
    if (this.streams.get(stream.id) !== stream) return;
    this.streams.delete(stream.id);
    // Bytes the reader will never take no longer count against the socket.
    const unread = stream.received - stream.credited;
    stream.credited = stream.received;
    if (unread > 0) this.credit(unread);
    const opening = this.opening.get(stream.id);
    if (opening) {
      this.opening.delete(stream.id);
      opening.reject(new Error(`spdy stream ${stream.id} was reset before it was accepted`));
    }
  }

  // Reading

  private credit(n: number): void {
    this.inboundBuffered -= n;
    this.sessionCreditDue += n;
    if (this.sessionCreditDue >= INITIAL_WINDOW / 4 || this.inboundBuffered === 0) {
      this.write(encodeWindowUpdate(0, this.sessionCreditDue));
      this.sessionCreditDue = 0;
    }
    if (this.readPaused && this.inboundBuffered < this.maxBufferedInbound) {
      this.readPaused = false;
      this.socket.resume();
      this.processFrames();
    }
  }

  private onSocketData(chunk: Buffer): void {
    this.reader.push(chunk);
    this.processFrames();
  }

  private processFrames(): void {
    while (!this.gone && !this.readPaused) {
      let frame: Frame | undefined;
      try {
        frame = this.reader.next();
      } catch (err) {
        this.protocolError((err as Error).message);
        return;
      }
      if (!frame) return;
      this.handle(frame);
      if (this.inboundBuffered >= this.maxBufferedInbound && !this.readPaused) {
        this.readPaused = true;
        this.socket.pause();
      }
    }
  }

  private handle(f: Frame): void {
    switch (f.type) {
      case 'data':
        this.onData(f.streamId, f.data, (f.flags & FLAG_FIN) !== 0);
        return;
      case 'syn_stream':
        this.onSynStream(f);
        return;
      case 'syn_reply':
        this.onSynReply(f.streamId, f.headerBlock, (f.flags & FLAG_FIN) !== 0);
        return;
      case 'headers': {
        if (this.decodeHeaders(f.headerBlock, f.streamId) === undefined) return;
        if (f.flags & FLAG_FIN) this.streams.get(f.streamId)?.receiveFin();
        return;
      }
      case 'rst_stream':
        this.streams.get(f.streamId)?.receiveReset(f.status);
        return;
      case 'settings':
        for (const e of f.entries) {
          if (e.id !== SettingsId.InitialWindowSize) continue;
          const delta = e.value - this.initialSendWindow;
          this.initialSendWindow = e.value;
          this.flowControlled = true;
          for (const s of this.streams.values()) s.sendWindow += delta;
        }
        this.unblockWriters();
        return;
      case 'ping': {
        const ours = (f.id & 1) === (this.opts.role === 'server' ? 0 : 1);
        if (!ours) {
          this.write(encodePing(f.id));
          return;
        }
        const done = this.pings.get(f.id);
        this.pings.delete(f.id);
        done?.();
        return;
      }
      case 'goaway':
        this.log.debug(
          { lastGoodStreamId: f.lastGoodStreamId, status: f.status },
          'spdy connection: GOAWAY',
        );
        this.emit('goaway', f.status);
        return;
      case 'window_update':
        this.flowControlled = true;
        if (f.streamId === 0) {
          this.sessionSendWindow += f.delta;
        } else {
          const s = this.streams.get(f.streamId);
          if (s) s.sendWindow += f.delta;
        }
        this.unblockWriters();
        return;
      case 'unknown':
        return;
    }
  }

  private onData(id: number, data: Buffer, fin: boolean): void {
    const s = this.streams.get(id);
    if (!s || s.remoteClosed || s.isReset) {
      // A stream reset or closed meanwhile: drop it, but give the session window back.
      if (data.length > 0) {
        this.inboundBuffered += data.length;
        this.credit(data.length);
      }
      return;
    }
    if (data.length > 0) {
      this.inboundBuffered += data.length;
      s.receive(data);
    }
    if (fin) s.receiveFin();
  }

  private onSynStream(f: Extract<Frame, { type: 'syn_stream' }>): void {
    // Header blocks share one zlib stream: decompress every one, even of a stream refused below.
    const headers = this.decodeHeaders(f.headerBlock, f.streamId);
    if (headers === undefined) return;
    const peerParity = this.opts.role === 'server' ? 1 : 0;
    if (f.streamId % 2 !== peerParity || f.streamId <= this.lastPeerStreamId) {
      this.log.debug(
        { streamId: f.streamId },
        'spdy connection: SYN_STREAM with an invalid stream id',
      );
      this.write(encodeRstStream(f.streamId, RstStatus.ProtocolError));
      return;
    }
    this.lastPeerStreamId = f.streamId;
    if (this.sentGoAway || this.streams.size >= (this.opts.maxStreams ?? 1000)) {
      this.write(encodeRstStream(f.streamId, RstStatus.RefusedStream));
      return;
    }
    const s = this.newStream(f.streamId, headers);
    if (f.flags & FLAG_UNIDIRECTIONAL) s.localClosed = true;
    if (f.flags & FLAG_FIN) s.receiveFin();
    this.emit('stream', s);
  }

  private onSynReply(id: number, block: Buffer, fin: boolean): void {
    if (this.decodeHeaders(block, id) === undefined) return;
    const s = this.streams.get(id);
    const opening = this.opening.get(id);
    if (!s || !opening) return;
    this.opening.delete(id);
    s.markReplied();
    if (fin) s.receiveFin();
    opening.resolve(s);
  }

  /** Decodes a header block; on failure the connection (whose zlib state is lost) ends with a protocol error. */
  private decodeHeaders(block: Buffer, streamId: number): Headers | undefined {
    let plain: Buffer;
    try {
      plain = this.decompressor.decompress(block);
    } catch (err) {
      this.protocolError((err as Error).message);
      return undefined;
    }
    try {
      return decodeHeaderBlock(plain);
    } catch (err) {
      this.log.debug(
        { streamId, err: (err as Error).message },
        'spdy connection: bad header block',
      );
      this.write(encodeRstStream(streamId, RstStatus.ProtocolError));
      return undefined;
    }
  }

  private newStream(id: number, headers: Headers): SpdyStream {
    const s = new SpdyStream(this, id, headers, this.initialSendWindow);
    this.streams.set(id, s);
    return s;
  }

  // Writing and ending

  private write(frame: Buffer): void {
    if (this.gone || this.socket.destroyed || this.socket.writableEnded) return;
    this.socket.write(frame);
  }

  private unblockWriters(): void {
    for (const s of this.streams.values()) {
      const resume = s.blocked;
      if (!resume) continue;
      s.blocked = undefined;
      resume();
    }
  }

  private goAway(status: number): void {
    if (this.sentGoAway) return;
    this.sentGoAway = true;
    this.write(encodeGoAway(this.lastPeerStreamId, status));
  }

  private protocolError(message: string): void {
    this.log.warn({ err: message }, 'spdy connection: protocol error, closing');
    this.goAway(GoAwayStatus.ProtocolError);
    this.socket.end();
    this.teardown();
  }

  private teardown(): void {
    if (this.gone) return;
    this.gone = true;
    clearTimeout(this.endTimer);
    for (const s of [...this.streams.values()]) s.connectionLost();
    for (const f of this.drainWaiters.splice(0)) f();
    for (const f of [...this.pings.values()]) f();
    this.pings.clear();
    if (!this.socket.destroyed) {
      // Give what was written a moment to leave, then make sure the socket goes.
      setTimeout(() => this.socket.destroy(), 1000).unref();
    }
    this.socket.once('close', () => this.resolveClosed());
    if (this.socket.destroyed) this.resolveClosed();
    this.emit('close');
  }
}
