import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { failedPrecondition, invalidArgument, unavailable } from '../../core/errdefs/index.js';
import type { Logger } from '../../core/log/index.js';
import {
  checkSpdyUpgrade,
  type HttpRefusal,
  isWebSocketRequest,
  negotiateProtocol,
  negotiateWebSocket,
  PROTOCOL_VERSION_HEADER,
  rawResponse,
  refusal,
} from './handshake.js';
import { PORTFORWARD_PROTOCOLS, servePortForward } from './portforward.js';
import {
  REMOTECOMMAND_PROTOCOLS,
  type RemoteCommandRun,
  serveRemoteCommand,
} from './remotecommand.js';
import { RequestCache } from './request-cache.js';
import { SpdyConnection } from './spdy/connection.js';
import { exitCodeStatus, successStatus } from './status.js';
import type {
  AttachRequest,
  AttachResponse,
  ExecRequest,
  ExecResponse,
  PortForwardRequest,
  PortForwardResponse,
  StreamingRuntime,
} from './types.js';
import { WsChannelConnection } from './websocket/channel-connection.js';
import {
  PORTFORWARD_WEBSOCKET_PROTOCOLS,
  portForwardChannels,
  REMOTECOMMAND_WEBSOCKET_PROTOCOLS,
  remoteCommandChannels,
  serveWebSocketPortForward,
  serveWebSocketRemoteCommand,
} from './websocket/sessions.js';

/** kubelet's defaults (pkg/kubelet/cri/streaming DefaultConfig). */
export const STREAM_IDLE_TIMEOUT_MS = 4 * 60 * 60 * 1000;
export const STREAM_CREATION_TIMEOUT_MS = 30_000;

export interface StreamingServerOptions {
  /** The address to listen on (CRI config `stream_server_address`; containerd's default 127.0.0.1). */
  address: string;
  /** The port (CRI config `stream_server_port`); 0 or "0" picks a free one. */
  port: number | string;
  runtime: StreamingRuntime;
  log: Logger;
  /** Closes a session after this long without traffic (default 4 hours, as kubelet). */
  streamIdleTimeoutMs?: number;
  /** How long a client has to open a session's streams (default 30 s, as kubelet). */
  streamCreationTimeoutMs?: number;
  /** How long a URL stays valid (default 1 minute, as kubelet). */
  requestTtlMs?: number;
}

type CachedRequest =
  | { kind: 'exec'; req: ExecRequest }
  | { kind: 'attach'; req: AttachRequest }
  | { kind: 'portforward'; req: PortForwardRequest };

const ROUTE = /^\/(exec|attach|portforward)\/([^/]+)$/;

/**
 * The CRI streaming server, what containerd takes from kubelet's pkg/kubelet/cri/streaming: Exec, Attach and
 * PortForward answer with a one-time URL on it (`/exec/<token>`, `/attach/<token>`, `/portforward/<token>`; the token
 * is random, single-use and valid for a minute: an unknown, used or expired one gets 404). A client upgrades the
 * request to SPDY/3.1 and speaks Kubernetes' remotecommand (v1 to v4) or portforward protocol on it, or to
 * WebSocket with kubelet's channel protocols; the sessions call the {@link StreamingRuntime}. close() ends every
 * session.
 */
export class StreamingServer {
  private server: Server | undefined;
  private baseUrl: string | undefined;
  private closing = false;
  private readonly cache: RequestCache<CachedRequest>;
  private readonly sockets = new Set<Socket>();
  private readonly sessions = new Set<SpdyConnection | WsChannelConnection>();
  private readonly log: Logger;

  constructor(private readonly opts: StreamingServerOptions) {
    this.cache = new RequestCache({ ttlMs: opts.requestTtlMs });
    this.log = opts.log;
  }

  /** Listens; resolves once bound (rejects if the address cannot be bound). */
  async start(): Promise<void> {
    if (this.server) throw failedPrecondition('streaming server: already started');
    const port = Number(this.opts.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw invalidArgument(`streaming server: port "${this.opts.port}" is not a TCP port`);
    }
    const server = createServer();
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => this.onRequest(req, res));
    server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) =>
      this.onUpgrade(req, socket, head),
    );
    const address = this.opts.address || '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      const failed = (err: Error): void =>
        reject(
          unavailable(`streaming server: cannot listen on ${address}:${port}: ${err.message}`, {
            cause: err,
          }),
        );
      server.once('error', failed);
      server.listen(port, address, () => {
        server.off('error', failed);
        resolve();
      });
    });
    server.on('error', (err) => this.log.error({ err: err.message }, 'streaming server error'));
    this.server = server;
    const addr = server.address() as AddressInfo;
    const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    this.baseUrl = `http://${host}:${addr.port}`;
    this.log.info({ address: this.baseUrl }, 'streaming server listening');
  }

  /** `http://<address>:<port>`, once started. */
  get url(): string {
    if (!this.baseUrl) throw failedPrecondition('streaming server is not started');
    return this.baseUrl;
  }

  getExec(req: ExecRequest): ExecResponse {
    if (!req.containerId) throw invalidArgument('missing required container_id');
    if (req.tty && req.stderr) throw invalidArgument('tty and stderr cannot both be true');
    if (!req.stdin && !req.stdout && !req.stderr) {
      throw invalidArgument('one of stdin, stdout, or stderr must be set');
    }
    return { url: this.urlFor('exec', { kind: 'exec', req }) };
  }

  getAttach(req: AttachRequest): AttachResponse {
    if (!req.containerId) throw invalidArgument('missing required container_id');
    if (req.tty && req.stderr) throw invalidArgument('tty and stderr cannot both be true');
    if (!req.stdin && !req.stdout && !req.stderr) {
      throw invalidArgument('one of stdin, stdout, and stderr must be set');
    }
    return { url: this.urlFor('attach', { kind: 'attach', req }) };
  }

  getPortForward(req: PortForwardRequest): PortForwardResponse {
    if (!req.podSandboxId) throw invalidArgument('missing required pod_sandbox_id');
    return { url: this.urlFor('portforward', { kind: 'portforward', req }) };
  }

  /** Stops listening and ends every session (their runtime calls see their streams end). */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const server = this.server;
    const closed = server
      ? new Promise<void>((resolve) => server.close(() => resolve()))
      : Promise.resolve();
    // Sessions first, so that their clients get a GOAWAY or a close frame; then whatever else is connected.
    await Promise.all([...this.sessions].map((c) => c.close(1000)));
    server?.closeAllConnections();
    for (const s of this.sockets) s.destroy();
    await closed;
    this.log.info('streaming server closed');
  }

  private urlFor(kind: CachedRequest['kind'], entry: CachedRequest): string {
    const base = this.url;
    if (this.closing) throw failedPrecondition('streaming server is closed');
    return `${base}/${kind}/${this.cache.insert(entry)}`;
  }

  /**
   * Finds the request a URL names, consuming its token; or the answer to give. The token is used up even when the
   * upgrade then fails, as in kubelet.
   */
  private lookup(req: IncomingMessage): CachedRequest | HttpRefusal {
    if (req.method !== 'GET' && req.method !== 'POST') return refusal(405, 'method not allowed');
    const path = new URL(req.url ?? '/', 'http://streaming').pathname;
    const m = ROUTE.exec(path);
    if (!m) return refusal(404, '404 page not found');
    const entry = this.cache.consume(decodeURIComponent(m[2]!));
    if (!entry || entry.kind !== m[1]) return refusal(404, '404 page not found');
    return entry;
  }

  /** A request that does not ask for an upgrade: refused as kubelet refuses it. */
  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const entry = this.lookup(req);
    const answer =
      'status' in entry
        ? entry
        : ((): HttpRefusal => {
            const negotiated = negotiateProtocol(req.headers, protocolsOf(entry.kind));
            return 'status' in negotiated
              ? negotiated
              : refusal(400, 'unable to upgrade: missing upgrade headers in request');
          })();
    res.writeHead(answer.status, {
      ...answer.headers,
      'content-length': String(Buffer.byteLength(answer.body)),
    });
    res.end(answer.body);
  }

  private onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const refuse = (r: HttpRefusal): void => {
      socket.end(rawResponse(r.status, statusText(r.status), r.headers, r.body));
    };
    if (this.closing) {
      refuse(refusal(503, 'streaming server is closing'));
      return;
    }
    const entry = this.lookup(req);
    if ('status' in entry) {
      refuse(entry);
      return;
    }
    if (isWebSocketRequest(req.headers)) {
      this.upgradeWebSocket(req, socket, head, entry, refuse);
      return;
    }
    const negotiated = negotiateProtocol(req.headers, protocolsOf(entry.kind));
    if ('status' in negotiated) {
      refuse(negotiated);
      return;
    }
    const bad = checkSpdyUpgrade(req.headers);
    if (bad) {
      refuse(bad);
      return;
    }

    socket.write(
      rawResponse(101, 'Switching Protocols', {
        connection: 'Upgrade',
        upgrade: 'SPDY/3.1',
        [PROTOCOL_VERSION_HEADER]: negotiated.protocol,
      }),
    );
    const log = this.sessionLog(entry);
    const conn = new SpdyConnection(
      socket,
      {
        role: 'server',
        log,
        idleTimeoutMs: this.opts.streamIdleTimeoutMs ?? STREAM_IDLE_TIMEOUT_MS,
      },
      head,
    );
    this.sessions.add(conn);
    conn.once('close', () => this.sessions.delete(conn));
    log.debug({ protocol: negotiated.protocol }, 'streaming session started');
    this.serve(conn, entry, negotiated.protocol, log).then(
      () => log.debug('streaming session ended'),
      (err: Error) => {
        log.error({ err: err.message, stack: err.stack }, 'streaming session failed');
        conn.destroy();
      },
    );
  }

  /** The WebSocket variant of the upgrade: Kubernetes' channel protocols (kubelet's wsstream). */
  private upgradeWebSocket(
    req: IncomingMessage,
    socket: Socket,
    head: Buffer,
    entry: CachedRequest,
    refuse: (r: HttpRefusal) => void,
  ): void {
    const ports = entry.kind === 'portforward' ? entry.req.port : [];
    if (
      entry.kind === 'portforward' &&
      (ports.length === 0 || ports.some((p) => !(p >= 1 && p <= 65535)))
    ) {
      refuse(
        refusal(
          400,
          `port-forward request: ports [${ports.join(' ')}] must be 1 to 65535, at least one`,
        ),
      );
      return;
    }
    const protocols =
      entry.kind === 'portforward'
        ? PORTFORWARD_WEBSOCKET_PROTOCOLS
        : REMOTECOMMAND_WEBSOCKET_PROTOCOLS;
    const negotiated = negotiateWebSocket(req.method, req.headers, protocols);
    if ('status' in negotiated) {
      refuse(negotiated);
      return;
    }
    socket.write(rawResponse(101, 'Switching Protocols', negotiated.headers));
    const log = this.sessionLog(entry);
    const channels =
      entry.kind === 'portforward' ? portForwardChannels(ports) : remoteCommandChannels(entry.req);
    const conn = new WsChannelConnection(
      socket,
      {
        base64: negotiated.protocol.includes('base64'),
        channels,
        log,
        idleTimeoutMs: this.opts.streamIdleTimeoutMs ?? STREAM_IDLE_TIMEOUT_MS,
      },
      head,
    );
    this.sessions.add(conn);
    conn.once('close', () => this.sessions.delete(conn));
    log.debug(
      { protocol: negotiated.protocol, transport: 'websocket' },
      'streaming session started',
    );
    let served: Promise<void>;
    if (entry.kind === 'portforward') {
      const id = entry.req.podSandboxId;
      const forward = (port: number, s: Duplex) => this.opts.runtime.portForward(id, port, s);
      served = serveWebSocketPortForward(conn, id, ports, forward, log);
    } else {
      served = serveWebSocketRemoteCommand(
        conn,
        negotiated.protocol,
        entry.req,
        this.work(entry),
        log,
      );
    }
    served.then(
      () => log.debug('streaming session ended'),
      (err: Error) => {
        log.error({ err: err.message, stack: err.stack }, 'streaming session failed');
        conn.destroy();
      },
    );
  }

  private serve(
    conn: SpdyConnection,
    entry: CachedRequest,
    protocol: string,
    log: Logger,
  ): Promise<void> {
    const timeout = this.opts.streamCreationTimeoutMs ?? STREAM_CREATION_TIMEOUT_MS;
    if (entry.kind === 'portforward') {
      const id = entry.req.podSandboxId;
      const forward = (port: number, s: Duplex) => this.opts.runtime.portForward(id, port, s);
      return servePortForward(conn, id, forward, log, timeout);
    }
    return serveRemoteCommand(conn, protocol, entry.req, this.work(entry), log, timeout);
  }

  private sessionLog(entry: CachedRequest): Logger {
    return this.log.child(
      entry.kind === 'portforward'
        ? { session: 'portforward', podSandboxId: entry.req.podSandboxId }
        : { session: entry.kind, containerId: entry.req.containerId },
    );
  }

  /** What an exec or attach session runs. */
  private work(entry: Exclude<CachedRequest, { kind: 'portforward' }>): RemoteCommandRun {
    const runtime = this.opts.runtime;
    if (entry.kind === 'exec') {
      const { containerId, cmd } = entry.req;
      return {
        errorPrefix: 'error executing command in container',
        run: async (o) => {
          const code = await runtime.exec(containerId, cmd, o);
          return code === 0 ? successStatus() : exitCodeStatus(cmd, code);
        },
      };
    }
    const { containerId } = entry.req;
    return {
      errorPrefix: 'error attaching to container',
      run: async (o) => {
        await runtime.attach(containerId, o);
        return successStatus();
      },
    };
  }
}

function protocolsOf(kind: CachedRequest['kind']): readonly string[] {
  return kind === 'portforward' ? PORTFORWARD_PROTOCOLS : REMOTECOMMAND_PROTOCOLS;
}

function statusText(status: number): string {
  switch (status) {
    case 400:
      return 'Bad Request';
    case 403:
      return 'Forbidden';
    case 404:
      return 'Not Found';
    case 405:
      return 'Method Not Allowed';
    case 503:
      return 'Service Unavailable';
    default:
      return 'Error';
  }
}
