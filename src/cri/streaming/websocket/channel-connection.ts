import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import type { Logger } from '../../../core/log/index.js';
import { encodeWsFrame, Opcode, type WsFrame, WsFrameReader } from './frames.js';

/** The largest message accepted (x/net/websocket's default is 32 MiB; clients send far smaller ones). */
const MAX_MESSAGE = 4 << 20;
const CHANNEL_BUFFER = 64 * 1024;

/** A channel can carry data from the client (read), to the client (write), both, or neither (ignored). */
export interface ChannelSpec {
  read: boolean;
  write: boolean;
}

interface Session {
  send(channel: WsChannel, data: Buffer, done: () => void): void;
  consumed(channel: WsChannel): void;
}

/**
 * One channel of Kubernetes' channel protocol over WebSocket (k8s.io/apiserver's wsstream): a Duplex whose readable
 * side is what the client sends on the channel and whose writes go to the client. The protocol cannot close one
 * channel, so end() sends nothing; data on a channel the session does not read, or written to one it does not
 * write, is dropped, as wsstream does. Never emits 'error' (see SpdyStream).
 */
export class WsChannel extends Duplex {
  received = 0;
  credited = 0;
  private gone = false;

  constructor(
    private readonly session: Session,
    readonly id: number,
    readonly spec: ChannelSpec,
  ) {
    super({
      allowHalfOpen: true,
      readableHighWaterMark: CHANNEL_BUFFER,
      writableHighWaterMark: CHANNEL_BUFFER,
    });
  }

  receive(data: Buffer): void {
    if (this.gone || !this.spec.read) return;
    this.received += data.length;
    this.push(data);
  }

  connectionLost(): void {
    if (this.gone) return;
    this.gone = true;
    this.push(null);
    if (this.readableLength > 0 && !this.readableEnded) this.once('end', () => this.destroy());
    else this.destroy();
  }

  override _read(): void {
    this.session.consumed(this);
  }

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
    if (this.gone || !this.spec.write) {
      cb();
      return;
    }
    this.session.send(this, chunk, () => cb());
  }

  override _final(cb: (err?: Error | null) => void): void {
    cb();
  }

  override _destroy(_err: Error | null, cb: (err?: Error | null) => void): void {
    this.gone = true;
    cb(null);
  }
}

export interface WsChannelConnectionOptions {
  /** base64.channel.k8s.io: text messages, the channel as an ASCII digit and the data base64-encoded. */
  base64: boolean;
  channels: ChannelSpec[];
  log: Logger;
  idleTimeoutMs?: number;
  /** Bytes received and not yet read by the channels' readers above which the socket is not read (default 1 MiB). */
  maxBufferedInbound?: number;
}

/**
 * A WebSocket connection (after the handshake) carrying Kubernetes' channel protocol: each message's first byte
 * names its channel. Pings are answered, a close is echoed and ends the connection. Emits 'close' once the socket is
 * gone. Memory stays bounded as on the SPDY side: writes complete once the socket took them, and the socket is not
 * read while the channels' readers lag more than `maxBufferedInbound` bytes behind.
 */
export class WsChannelConnection extends EventEmitter implements Session {
  readonly channels: WsChannel[];
  readonly closed: Promise<void>;
  private resolveClosed!: () => void;
  private readonly reader = new WsFrameReader(true, MAX_MESSAGE);
  private fragments: Buffer[] = [];
  private fragmentsLength = 0;
  private inboundBuffered = 0;
  private readPaused = false;
  private readonly drainWaiters: (() => void)[] = [];
  private sentClose = false;
  private gone = false;
  private readonly maxBufferedInbound: number;
  private readonly log: Logger;

  constructor(
    private readonly socket: Socket,
    private readonly opts: WsChannelConnectionOptions,
    head?: Buffer,
  ) {
    super();
    this.log = opts.log;
    this.maxBufferedInbound = opts.maxBufferedInbound ?? 1 << 20;
    this.channels = opts.channels.map((spec, i) => new WsChannel(this, i, spec));
    this.closed = new Promise((resolve) => {
      this.resolveClosed = resolve;
    });
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.reader.push(chunk);
      this.processFrames();
    });
    socket.on('drain', () => {
      for (const f of this.drainWaiters.splice(0)) f();
    });
    socket.on('end', () => {
      this.socket.end();
      this.teardown();
    });
    socket.on('error', (err) => {
      this.log.debug({ err: err.message }, 'websocket connection: socket error');
      this.teardown();
    });
    socket.on('close', () => this.teardown());
    socket.resume();
    if (opts.idleTimeoutMs) {
      socket.setTimeout(opts.idleTimeoutMs, () => {
        this.log.debug(
          { idleTimeoutMs: opts.idleTimeoutMs },
          'websocket connection: idle, closing',
        );
        void this.close();
      });
    }
    if (head && head.length > 0) {
      this.reader.push(head);
      queueMicrotask(() => this.processFrames());
    }
  }

  /** True once the socket is gone. */
  get isClosed(): boolean {
    return this.gone;
  }

  /** Sends a close frame (normal closure) and ends the socket; resolves when it is gone. */
  close(graceMs = 5000): Promise<void> {
    if (!this.gone) {
      this.sendClose(1000);
      this.socket.end();
      setTimeout(() => this.socket.destroy(), graceMs).unref();
    }
    return this.closed;
  }

  destroy(): void {
    this.socket.destroy();
    this.teardown();
  }

  send(channel: WsChannel, data: Buffer, done: () => void): void {
    if (this.gone || this.sentClose) {
      done();
      return;
    }
    const frame = this.opts.base64
      ? encodeWsFrame(
          Opcode.Text,
          Buffer.from(String.fromCharCode(0x30 + channel.id) + data.toString('base64')),
        )
      : encodeWsFrame(Opcode.Binary, Buffer.concat([Buffer.from([channel.id]), data]));
    if (this.socket.write(frame)) done();
    else this.drainWaiters.push(done);
  }

  consumed(channel: WsChannel): void {
    const taken = channel.received - channel.readableLength;
    const due = taken - channel.credited;
    if (due <= 0) return;
    channel.credited = taken;
    this.inboundBuffered -= due;
    if (this.readPaused && this.inboundBuffered < this.maxBufferedInbound) {
      this.readPaused = false;
      this.socket.resume();
      this.processFrames();
    }
  }

  private processFrames(): void {
    while (!this.gone && !this.readPaused) {
      let frame: WsFrame | undefined;
      try {
        frame = this.reader.next();
      } catch (err) {
        this.failConnection(1002, (err as Error).message);
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

  private handle(f: WsFrame): void {
    switch (f.opcode) {
      case Opcode.Ping:
        this.write(encodeWsFrame(Opcode.Pong, f.payload));
        return;
      case Opcode.Pong:
        return;
      case Opcode.Close: {
        const code = f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1000;
        this.log.debug({ code }, 'websocket connection: close from the client');
        this.sendClose(code === 1005 || code === 1006 || code === 1015 ? 1000 : code);
        this.socket.end();
        this.teardown();
        return;
      }
      case Opcode.Text:
      case Opcode.Binary:
      case Opcode.Continuation:
        this.onDataFrame(f);
        return;
      default:
        this.failConnection(1002, `websocket frame: unknown opcode ${f.opcode}`);
    }
  }

  private onDataFrame(f: WsFrame): void {
    const continuation = f.opcode === Opcode.Continuation;
    if (continuation !== this.fragments.length > 0) {
      this.failConnection(1002, 'websocket: message fragments out of order');
      return;
    }
    this.fragments.push(f.payload);
    this.fragmentsLength += f.payload.length;
    if (this.fragmentsLength > MAX_MESSAGE) {
      this.failConnection(1009, 'websocket: message too big');
      return;
    }
    if (!f.fin) return;
    const message =
      this.fragments.length === 1 ? this.fragments[0]! : Buffer.concat(this.fragments);
    this.fragments = [];
    this.fragmentsLength = 0;
    // Text and binary messages are read alike (x/net/websocket's Message.Receive into []byte).
    this.onMessage(message);
  }

  /** One channel-protocol message: the channel, then its data (raw, or base64 after an ASCII digit). */
  private onMessage(message: Buffer): void {
    if (message.length === 0) return;
    const id = this.opts.base64 ? message[0]! - 0x30 : message[0]!;
    const channel = this.channels[id];
    if (!channel) {
      this.log.debug({ channel: id }, 'websocket connection: message for no channel, dropped');
      return;
    }
    const data = this.opts.base64
      ? Buffer.from(message.subarray(1).toString('latin1'), 'base64')
      : message.subarray(1);
    if (data.length === 0 || !channel.spec.read) return;
    this.inboundBuffered += data.length;
    channel.receive(data);
  }

  private write(frame: Buffer): void {
    if (this.gone || this.socket.destroyed || this.socket.writableEnded) return;
    this.socket.write(frame);
  }

  private sendClose(code: number): void {
    if (this.sentClose) return;
    const payload = Buffer.alloc(2);
    payload.writeUInt16BE(code);
    this.write(encodeWsFrame(Opcode.Close, payload));
    this.sentClose = true;
  }

  private failConnection(code: number, message: string): void {
    this.log.warn({ err: message }, 'websocket connection: protocol error, closing');
    this.sendClose(code);
    this.socket.end();
    this.teardown();
  }

  private teardown(): void {
    if (this.gone) return;
    this.gone = true;
    for (const c of this.channels) c.connectionLost();
    for (const f of this.drainWaiters.splice(0)) f();
    if (!this.socket.destroyed) setTimeout(() => this.socket.destroy(), 1000).unref();
    this.socket.once('close', () => this.resolveClosed());
    if (this.socket.destroyed) this.resolveClosed();
    this.emit('close');
  }
}
