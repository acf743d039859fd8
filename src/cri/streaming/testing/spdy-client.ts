import { connect } from 'node:net';
import { nullLogger } from '../../../core/log/index.js';
import { SpdyConnection } from '../spdy/connection.js';

/** The answer to an upgrade request that was not upgraded. */
export interface Refused {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * A SPDY/3.1 client for tests: sends the upgrade request as client-go's round tripper does (method, the URL's path,
 * `Connection: Upgrade`, `Upgrade: SPDY/3.1`, one X-Stream-Protocol-Version per protocol) and, on a 101, speaks
 * SPDY on the socket as the client.
 */
export function dialSpdy(
  url: string,
  protocols: string[],
  opts: { method?: string; upgrade?: boolean } = {},
): Promise<{ conn: SpdyConnection; protocol: string } | Refused> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(u.port), u.hostname.replace(/^\[|\]$/g, ''));
    const lines = [
      `${opts.method ?? 'POST'} ${u.pathname} HTTP/1.1`,
      `Host: ${u.host}`,
      'Content-Length: 0',
    ];
    if (opts.upgrade !== false) lines.push('Connection: Upgrade', 'Upgrade: SPDY/3.1');
    for (const p of protocols) lines.push(`X-Stream-Protocol-Version: ${p}`);
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
        const name = l.slice(0, i).trim().toLowerCase();
        const value = l.slice(i + 1).trim();
        headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
      }
      const status = Number(statusLine!.split(' ')[1]);
      const rest = buf.subarray(end + 4);
      if (status === 101) {
        socket.off('data', onData);
        const conn = new SpdyConnection(socket, { role: 'client', log: nullLogger }, rest);
        resolve({ conn, protocol: headers['x-stream-protocol-version'] ?? '' });
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

export async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks).toString();
}
