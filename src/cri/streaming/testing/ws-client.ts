import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { websocketAccept } from '../handshake.js';
import { encodeWsFrame, Opcode, WsFrameReader } from '../websocket/frames.js';
import type { Refused } from './spdy-client.js';

/** A message from the server: its opcode and payload. */
export interface WsMessage {
  opcode: number;
  data: Buffer;
}

/** A WebSocket client for tests (one message per frame from the server, as x/net/websocket sends them). */
export class WsTestClient {
  private readonly reader = new WsFrameReader(false, 64 << 20);
  private readonly queue: WsMessage[] = [];
  private waiter: (() => void) | undefined;
  ended = false;

  constructor(
    readonly socket: Socket,
    readonly protocol: string,
    head: Buffer,
  ) {
    socket.on('data', (c: Buffer) => this.onData(c));
    socket.on('close', () => {
      this.ended = true;
      this.waiter?.();
    });
    if (head.length > 0) this.onData(head);
  }

  private onData(c: Buffer): void {
    this.reader.push(c);
    for (let f = this.reader.next(); f; f = this.reader.next()) {
      this.queue.push({ opcode: f.opcode, data: f.payload });
    }
    this.waiter?.();
  }

  /** The next message, or undefined once the connection is gone. */
  async next(): Promise<WsMessage | undefined> {
    while (this.queue.length === 0 && !this.ended) {
      await new Promise<void>((r) => {
        this.waiter = r;
      });
      this.waiter = undefined;
    }
    return this.queue.shift();
  }

  send(opcode: number, data: Buffer): void {
    this.socket.write(encodeWsFrame(opcode, data, { mask: true }));
  }

  /** Every message until the connection ends. */
  async rest(): Promise<WsMessage[]> {
    const out: WsMessage[] = [];
    for (let m = await this.next(); m; m = await this.next()) out.push(m);
    return out;
  }

  close(): void {
    this.send(Opcode.Close, Buffer.from([0x03, 0xe8]));
  }
}

/** Opens a WebSocket to `url` with the subprotocols listed (none: no header), checking the server's accept key. */
export function dialWs(
  url: string,
  protocols: string[],
  opts: { method?: string; version?: string } = {},
): Promise<WsTestClient | Refused> {
  const u = new URL(url);
  const key = randomBytes(16).toString('base64');
  return new Promise((resolve, reject) => {
    const socket = connect(Number(u.port), u.hostname.replace(/^\[|\]$/g, ''));
    const lines = [
      `${opts.method ?? 'GET'} ${u.pathname} HTTP/1.1`,
      `Host: ${u.host}`,
      'Connection: Upgrade',
      'Upgrade: websocket',
      `Sec-WebSocket-Key: ${key}`,
      `Sec-WebSocket-Version: ${opts.version ?? '13'}`,
    ];
    if (protocols.length > 0) lines.push(`Sec-WebSocket-Protocol: ${protocols.join(', ')}`);
    socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    let buf = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const [statusLine, ...headerLines] = buf.subarray(0, end).toString('latin1').split('\r\n');
      const headers: Record<string, string> = {};
      for (const l of headerLines) {
        const i = l.indexOf(':');
        headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      const status = Number(statusLine!.split(' ')[1]);
      const rest = buf.subarray(end + 4);
      if (status === 101) {
        socket.off('data', onData);
        if (headers['sec-websocket-accept'] !== websocketAccept(key)) {
          reject(new Error('bad Sec-WebSocket-Accept'));
          return;
        }
        resolve(new WsTestClient(socket, headers['sec-websocket-protocol'] ?? '', rest));
        return;
      }
      const length = Number(headers['content-length'] ?? 0);
      if (rest.length < length) return;
      socket.destroy();
      resolve({ status, headers, body: rest.subarray(0, length).toString() });
    };
    socket.on('data', onData);
    socket.on('error', reject);
  });
}
