import { chmodSync, chownSync, mkdirSync, renameSync, unlinkSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { StatusCode } from '../core/errdefs/index.js';
import type { Logger } from '../core/log/index.js';
import { claimSocketPath } from '../sys/socket.js';
import { respondTrailersOnly, ServerCall } from './call.js';
import { H2Connection } from './h2/connection.js';
import { ErrorCode } from './h2/frames.js';
import type { H2Stream } from './h2/stream.js';
import { type CallTracker, type GrpcService, type Route, routes } from './service.js';
import { GrpcStatusError } from './wire.js';

export interface GrpcServerOptions {
  /** Unix socket path. */
  address: string;
  /** Owner of the socket file; default root (0:0). Mode is always 0660. */
  uid?: number;
  gid?: number;
  maxRecvMessageSize?: number;
  maxSendMessageSize?: number;
  log: Logger;
}

export const DEFAULT_MAX_MESSAGE_SIZE = 16 << 20;

/**
 * HTTP/2 flow-control window, per stream and per connection, sized for
 * 1 MiB Content.Write chunks: with HTTP/2's 64 KiB default a client waits
 * for a WINDOW_UPDATE every 64 KiB. containerd's grpc-go grows its windows
 * for the same reason.
 */
export const FLOW_CONTROL_WINDOW = 16 << 20;

/** Request header lists larger than this are refused (gRPC metadata is small). */
const MAX_HEADER_LIST_SIZE = 1 << 20;

/**
 * berthd's gRPC front door on a unix socket: berth's own HTTP/2 server
 * (src/server/h2) with gRPC's message and status rules (call.ts, wire.ts)
 * on top. It binds only after it has made sure no other daemon answers
 * there, and tracks calls in flight so that {@link GrpcServer.stop} lets
 * them finish.
 *
 * Binding and serving are two steps: {@link listen} binds, and connections
 * that arrive then are accepted but not read (their bytes wait in the
 * kernel) until {@link serve} routes calls, so a daemon can own its socket
 * while it loads, and a client that connects early waits for its answer
 * rather than being refused and backing off. {@link start} does both.
 */
export class GrpcServer {
  private readonly server: Server;
  private readonly routes = new Map<string, Route>();
  private readonly services = new Set<string>();
  private readonly connections = new Set<H2Connection>();
  private readonly limits: { maxRecvMessageSize: number; maxSendMessageSize: number };
  private readonly tracker: CallTracker;
  private inFlight = 0;
  private idle: (() => void) | undefined;
  private bound = false;
  private serving = false;
  /** Connections accepted before {@link serve}, paused. */
  private readonly waiting = new Set<Socket>();
  private readonly stopping = new AbortController();

  constructor(
    private readonly opts: GrpcServerOptions,
    services: readonly GrpcService[],
  ) {
    this.limits = {
      maxRecvMessageSize: opts.maxRecvMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE,
      maxSendMessageSize: opts.maxSendMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE,
    };
    this.tracker = {
      stopping: this.stopping.signal,
      begin: () => {
        this.inFlight++;
        return () => {
          this.inFlight--;
          if (this.inFlight === 0) this.idle?.();
        };
      },
    };
    this.addServices(services);
    this.server = createServer({ pauseOnConnect: true }, (socket) => this.accept(socket));
  }

  private addServices(services: readonly GrpcService[]): void {
    for (const svc of services) {
      this.services.add(svc.name);
      for (const r of routes(svc, this.opts.log.child({ service: svc.name }), this.tracker)) {
        this.routes.set(r.path, r);
      }
    }
  }

  get address(): string {
    return this.opts.address;
  }

  /** Binds the socket and serves the services given to the constructor. */
  async start(): Promise<void> {
    await this.listen();
    this.serve();
  }

  /**
   * Claims and binds the socket; connections wait until {@link serve}. The
   * socket is bound under a temporary name, given its mode and owner, then
   * renamed into place: whoever sees the file finds it listening and
   * closed to others (bind and listen are two syscalls, and chmod a third).
   */
  async listen(): Promise<void> {
    const { address } = this.opts;
    mkdirSync(dirname(address), { recursive: true, mode: 0o711 });
    await claimSocketPath(address);
    const temp = `${address}.${process.pid}.bind`;
    // sun_path holds 107 bytes: a name too long to extend is bound directly.
    const bindAt = Buffer.byteLength(temp) <= 107 ? temp : address;
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(bindAt, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.bound = true;
    chmodSync(bindAt, 0o660);
    chownSync(bindAt, this.opts.uid ?? 0, this.opts.gid ?? 0);
    if (bindAt !== address) renameSync(bindAt, address);
    this.opts.log.debug({ address }, 'gRPC socket bound');
  }

  /**
   * Adds `services` to those given to the constructor and serves them all,
   * starting with the connections that waited. Call once, after
   * {@link listen}.
   */
  serve(services: readonly GrpcService[] = []): void {
    if (!this.bound) throw new Error('GrpcServer.serve: not listening');
    if (this.serving) throw new Error('GrpcServer.serve: already serving');
    this.addServices(services);
    this.serving = true;
    for (const socket of this.waiting) this.accept(socket);
    this.waiting.clear();
    this.opts.log.info({ address: this.opts.address }, 'serving gRPC');
  }

  /**
   * Stops accepting calls and waits for those in flight; after `graceMs`
   * the rest are cancelled. Removes the socket file.
   */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.bound) return;
    this.bound = false;
    this.stopping.abort();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    // Never served: those who connected meanwhile are told by the close.
    for (const socket of this.waiting) socket.destroy();
    this.waiting.clear();
    for (const c of this.connections) c.goaway();
    const timer = new Promise<'timeout'>((resolve) => {
      setTimeout(() => resolve('timeout'), graceMs).unref();
    });
    if ((await Promise.race([closed, timer])) === 'timeout') {
      this.opts.log.warn({ inFlight: this.inFlight }, 'cancelling calls still in flight');
      for (const c of this.connections) c.destroy();
      await closed;
    }
    if (this.inFlight > 0) {
      await new Promise<void>((resolve) => {
        this.idle = resolve;
      });
    }
    try {
      unlinkSync(this.opts.address);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }

  private accept(socket: Socket): void {
    if (!this.serving) {
      if (!this.bound) {
        socket.destroy();
        return;
      }
      this.waiting.add(socket);
      socket.once('close', () => this.waiting.delete(socket));
      socket.on('error', () => {}); // 'close' follows
      return;
    }
    const conn: H2Connection = new H2Connection(socket, {
      windowSize: FLOW_CONTROL_WINDOW,
      maxHeaderListSize: MAX_HEADER_LIST_SIZE,
      onStream: (s) => this.dispatch(s),
      onClose: () => this.connections.delete(conn),
      onError: (err) => {
        if (err.code === ErrorCode.INTERNAL_ERROR) {
          this.opts.log.error({ err: err.cause }, 'failure while serving a connection; closed it');
        } else {
          this.opts.log.debug(
            { err },
            'HTTP/2 protocol error by the client; closed the connection',
          );
        }
      },
    });
    this.connections.add(conn);
    socket.resume(); // accepted paused (pauseOnConnect)
    if (!this.bound) conn.goaway();
  }

  private dispatch(stream: H2Stream): void {
    if (stream.header(':method') !== 'POST') {
      stream.respondAndEnd([[':status', '405']]);
      return;
    }
    const contentType = stream.header('content-type') ?? '';
    if (!contentType.startsWith('application/grpc')) {
      stream.respondAndEnd([[':status', '415']]);
      return;
    }
    const path = stream.header(':path') ?? '';
    const route = this.routes.get(path);
    if (route === undefined) {
      respondTrailersOnly(stream, { code: StatusCode.UNIMPLEMENTED, message: this.unknown(path) });
      return;
    }
    const def = route.definition;
    let call: ServerCall<unknown, unknown>;
    try {
      call = new ServerCall(stream, def.requestDeserialize, def.responseSerialize, this.limits);
    } catch (err) {
      if (!(err instanceof GrpcStatusError)) throw err;
      respondTrailersOnly(stream, { code: err.code, message: err.message });
      return;
    }
    route.start(call);
  }

  /** grpc-go's words for a path the server does not serve. */
  private unknown(path: string): string {
    const m = /^\/([^/]+)\/([^/]+)$/.exec(path);
    if (m === null) return `malformed method name: ${JSON.stringify(path)}`;
    return this.services.has(m[1]!)
      ? `unknown method ${m[2]} for service ${m[1]}`
      : `unknown service ${m[1]}`;
  }
}
