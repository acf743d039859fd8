import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

/**
 * The HTTP side of an upgrade to SPDY/3.1, as k8s.io/apimachinery's httpstream does it: the client lists the
 * subprotocols it speaks in X-Stream-Protocol-Version (repeated or comma-separated), the server picks the first one
 * it also speaks and names it in its 101 answer.
 */
export const PROTOCOL_VERSION_HEADER = 'x-stream-protocol-version';
export const ACCEPTED_PROTOCOL_VERSIONS_HEADER = 'x-accepted-stream-protocol-versions';

/** An HTTP answer other than the upgrade. */
export interface HttpRefusal {
  status: number;
  headers: Record<string, string | string[]>;
  body: string;
}

function values(headers: IncomingHttpHeaders, name: string): string[] {
  const raw = headers[name];
  const list = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  return list
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v !== '');
}

/** The negotiated subprotocol, or the refusal to send (400 without the header, 403 without a common protocol). */
export function negotiateProtocol(
  headers: IncomingHttpHeaders,
  serverProtocols: readonly string[],
): { protocol: string } | HttpRefusal {
  const client = values(headers, PROTOCOL_VERSION_HEADER);
  if (client.length === 0) {
    return refusal(400, 'unable to upgrade: X-Stream-Protocol-Version is required');
  }
  const protocol = client.find((p) => serverProtocols.includes(p));
  if (protocol !== undefined) return { protocol };
  const r = refusal(
    403,
    `unable to upgrade: unable to negotiate protocol: client supports [${client.join(' ')}], server accepts [${serverProtocols.join(' ')}]`,
  );
  r.headers[ACCEPTED_PROTOCOL_VERSIONS_HEADER] = [...serverProtocols];
  return r;
}

/** Whether the request asks for SPDY/3.1 (undefined) or what to answer. */
export function checkSpdyUpgrade(headers: IncomingHttpHeaders): HttpRefusal | undefined {
  const connection = String(headers.connection ?? '').toLowerCase();
  const upgrade = String(headers.upgrade ?? '').toLowerCase();
  if (connection.includes('upgrade') && upgrade.includes('spdy/3.1')) return undefined;
  return refusal(400, 'unable to upgrade: missing upgrade headers in request');
}

/** True for a WebSocket upgrade request (`Upgrade: websocket` and `upgrade` among the Connection tokens). */
export function isWebSocketRequest(headers: IncomingHttpHeaders): boolean {
  if (String(headers.upgrade ?? '').toLowerCase() !== 'websocket') return false;
  return String(headers.connection ?? '')
    .toLowerCase()
    .split(',')
    .some((t) => t.trim() === 'upgrade');
}

export function refusal(status: number, body: string): HttpRefusal {
  return { status, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: `${body}\n` };
}

/** An HTTP/1.1 response written straight to an upgraded (hijacked) socket. */
export function rawResponse(
  status: number,
  reason: string,
  headers: Record<string, string | string[]>,
  body = '',
): string {
  const lines = [`HTTP/1.1 ${status} ${reason}`];
  const all: Record<string, string | string[]> = { ...headers, date: new Date().toUTCString() };
  if (status !== 101) {
    all['content-length'] = String(Buffer.byteLength(body));
    all.connection = 'close';
  }
  for (const [name, value] of Object.entries(all)) {
    for (const v of Array.isArray(value) ? value : [value]) lines.push(`${canonical(name)}: ${v}`);
  }
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}

function canonical(name: string): string {
  return name.replace(/(^|-)([a-z])/g, (_m, dash: string, c: string) => dash + c.toUpperCase());
}

/** The GUID RFC 6455 appends to the client's key. */
const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** Sec-WebSocket-Accept for a Sec-WebSocket-Key. */
export function websocketAccept(key: string): string {
  return createHash('sha1')
    .update(key + WEBSOCKET_GUID)
    .digest('base64');
}

/**
 * The WebSocket handshake as golang.org/x/net/websocket's server and wsstream do it: GET only, version 13, a key;
 * the subprotocol is the first the client lists that the server speaks, or "" (the binary channel protocol) when
 * the client lists none. Answers the 101's headers, or the refusal.
 */
export function negotiateWebSocket(
  method: string | undefined,
  headers: IncomingHttpHeaders,
  serverProtocols: readonly string[],
): { protocol: string; headers: Record<string, string> } | HttpRefusal {
  if (method !== 'GET') return refusal(405, 'websocket: method not allowed');
  if (headers['sec-websocket-version'] !== '13') {
    const r = refusal(400, 'websocket: bad protocol version');
    r.headers['sec-websocket-version'] = '13';
    return r;
  }
  const key = headers['sec-websocket-key'];
  if (typeof key !== 'string' || key.trim() === '')
    return refusal(400, 'websocket: missing Sec-WebSocket-Key');
  const client = values(headers, 'sec-websocket-protocol');
  const wanted = client.length === 0 ? [''] : client;
  const protocol = wanted.find((p) => serverProtocols.includes(p));
  if (protocol === undefined) {
    return refusal(
      403,
      `requested protocol(s) are not supported: [${client.join(' ')}]; supports [${serverProtocols.join(' ')}]`,
    );
  }
  const out: Record<string, string> = {
    upgrade: 'websocket',
    connection: 'Upgrade',
    'sec-websocket-accept': websocketAccept(key.trim()),
  };
  if (protocol !== '') out['sec-websocket-protocol'] = protocol;
  return { protocol, headers: out };
}
