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

/** True for a WebSocket upgrade request (`Connection: Upgrade`, `Upgrade: websocket`). */
export function isWebSocketRequest(headers: IncomingHttpHeaders): boolean {
  const connection = String(headers.connection ?? '').toLowerCase();
  const upgrade = String(headers.upgrade ?? '').toLowerCase();
  return connection.includes('upgrade') && upgrade === 'websocket';
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
