import { chmodSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import type { Status } from '../api/google/rpc/status.js';
import { Request, Response } from '../api/ttrpc/ttrpc.js';
import { asBuffer } from '../core/any/index.js';
import {
  alreadyExists,
  failedPrecondition,
  internal,
  invalidArgument,
  StatusCode,
} from '../core/errdefs/index.js';
import type { Logger } from '../core/log/index.js';
import { claimSocketPath } from '../sys/socket.js';
import { encodeFrame, type Frame, FrameDecoder, MAX_MESSAGE_LENGTH, MessageType } from './frame.js';
import { decodeMetadata } from './metadata.js';
import { socketPath } from './socket-path.js';
import { errorToStatus, protocolStatus } from './status.js';

export interface TtrpcRequestContext {
  /** Request metadata, keys lower-cased, values in arrival order. */
  metadata: Map<string, string[]>;
  /**
   * Aborted when the caller's timeout (`timeout_nano`) passes (reason: a
   * `TimeoutError`), or the connection or the server closes (an `AbortError`).
   */
  signal: AbortSignal;
  service: string;
  method: string;
  /** When the caller's timeout passes (`Date.now()` milliseconds), if it sent one. */
  deadline?: number;
}

/**
 * Answers one unary call: the encoded request message in, the encoded
 * response message out. A thrown error is answered with its kind's status
 * code and message (src/core/errdefs/status-codes.ts).
 */
export type TtrpcHandler = (payload: Uint8Array, ctx: TtrpcRequestContext) => Promise<Uint8Array>;

export interface TtrpcServerOptions {
  log: Logger;
}

const MAX_TIMER_MS = 0x7fffffff;
/** Unanswered bytes a connection may queue before the server stops reading its requests. */
const WRITE_BACKLOG_LIMIT = 2 * MAX_MESSAGE_LENGTH;

interface Connection {
  readonly socket: Socket;
  readonly decoder: FrameDecoder;
  /** Set when the connection ends. */
  closed: boolean;
  /**
   * The calls not yet answered: each is aborted when the connection ends.
   * (One AbortSignal.any per call cost more, and kept every answered call's
   * signal registered on the connection's until collected.)
   */
  readonly calls: Set<AbortController>;
}

/**
 * A ttrpc server on a unix socket. Each request runs its handler
 * concurrently; the answer goes back on the request's stream id. Protocol
 * errors are answered as github.com/containerd/ttrpc answers them: an unknown
 * service or method with UNIMPLEMENTED, an undecodable request or an even
 * stream id with INVALID_ARGUMENT, an oversize frame (skipped unread) with
 * RESOURCE_EXHAUSTED; frames of other types are ignored.
 */
export class TtrpcServer {
  private readonly log: Logger;
  private readonly services = new Map<string, Map<string, TtrpcHandler>>();
  private readonly connections = new Set<Connection>();
  private server: Server | undefined;
  private address: string | undefined;
  /** The listening socket's inode, so close() removes only the file it made. */
  private socketIno: number | undefined;
  private state: 'new' | 'starting' | 'listening' | 'closed' = 'new';

  constructor(opts: TtrpcServerOptions) {
    this.log = opts.log;
  }

  /** Adds a handler; registering the same service and method twice is refused. */
  register(service: string, method: string, handler: TtrpcHandler): void {
    if (
      typeof service !== 'string' ||
      service === '' ||
      typeof method !== 'string' ||
      method === ''
    ) {
      throw invalidArgument('ttrpc register: service and method must be non-empty strings');
    }
    if (typeof handler !== 'function') {
      throw invalidArgument(
        `ttrpc register ${JSON.stringify(`${service}/${method}`)}: handler must be a function`,
      );
    }
    let methods = this.services.get(service);
    if (!methods) {
      methods = new Map();
      this.services.set(service, methods);
    }
    if (methods.has(method)) {
      throw alreadyExists(`ttrpc method ${JSON.stringify(`${service}/${method}`)}`);
    }
    methods.set(method, handler);
  }

  /**
   * Listens on the unix socket `path` (`unix://` accepted), made with
   * permissions `mode` (default 0600). A stale socket file is replaced; a
   * live one, or a file that is not a socket, is refused.
   */
  async listen(path: string, mode = 0o600): Promise<void> {
    if (this.state !== 'new') {
      throw failedPrecondition(
        `ttrpc server: ${this.state === 'closed' ? 'closed' : 'already listening'}`,
      );
    }
    const address = socketPath(path);
    this.state = 'starting';
    let server: Server | undefined;
    let ino: number | undefined;
    try {
      mkdirSync(dirname(address), { recursive: true, mode: 0o711 });
      await claimSocketPath(address);
      const srv = createServer((socket) => this.accept(socket));
      server = srv;
      await new Promise<void>((resolve, reject) => {
        srv.once('error', reject);
        srv.listen(address, () => {
          srv.off('error', reject);
          resolve();
        });
      });
      ino = lstatSync(address).ino;
      chmodSync(address, mode);
    } catch (err) {
      if (server?.listening) await stopListener(server, address, ino, this.log);
      if (this.state === 'starting') this.state = 'new';
      throw err;
    }
    if (this.state !== 'starting') {
      await stopListener(server, address, ino, this.log);
      throw failedPrecondition('ttrpc server: closed while starting to listen');
    }
    server.on('error', (err) => this.log.error({ err, address }, 'ttrpc: listener failed'));
    this.server = server;
    this.address = address;
    this.socketIno = ino;
    this.state = 'listening';
    this.log.info({ address }, 'serving ttrpc');
  }

  /**
   * Stops accepting, ends every connection (handlers in flight see their
   * signal abort; their answers are dropped) and removes the socket file.
   */
  async close(): Promise<void> {
    this.state = 'closed';
    const server = this.server;
    this.server = undefined;
    if (!server || this.address === undefined) return;
    const stopping = stopListener(server, this.address, this.socketIno, this.log);
    for (const conn of this.connections) this.endConnection(conn);
    await stopping;
  }

  private accept(socket: Socket): void {
    if (this.state !== 'listening') {
      socket.destroy();
      return;
    }
    const conn: Connection = {
      socket,
      decoder: new FrameDecoder(),
      closed: false,
      calls: new Set(),
    };
    this.connections.add(conn);
    socket.on('data', (chunk: Buffer) => {
      for (const frame of conn.decoder.push(chunk)) this.onFrame(conn, frame);
    });
    socket.on('error', (err) => this.log.debug({ err }, 'ttrpc: connection error'));
    socket.on('close', () => this.endConnection(conn));
  }

  private endConnection(conn: Connection): void {
    if (!this.connections.delete(conn)) return;
    conn.closed = true;
    const reason = new DOMException('ttrpc connection closed', 'AbortError');
    for (const call of conn.calls) call.abort(reason);
    conn.calls.clear();
    conn.socket.destroy();
  }

  private onFrame(conn: Connection, frame: Frame): void {
    const { streamId, type, length } = frame.header;
    if (frame.oversize) {
      this.respond(conn, streamId, {
        status: protocolStatus(
          StatusCode.RESOURCE_EXHAUSTED,
          `message length ${length} exceed maximum message size of ${MAX_MESSAGE_LENGTH}`,
        ),
      });
      return;
    }
    if (type !== MessageType.REQUEST) {
      this.log.debug({ streamId, type }, 'ttrpc: ignoring frame that is not a request');
      return;
    }
    let req: Request;
    try {
      req = Request.decode(frame.payload);
    } catch (err) {
      this.respond(conn, streamId, {
        status: protocolStatus(
          StatusCode.INVALID_ARGUMENT,
          `unmarshal request error: ${(err as Error).message}`,
        ),
      });
      return;
    }
    if (streamId % 2 !== 1) {
      this.respond(conn, streamId, {
        status: protocolStatus(
          StatusCode.INVALID_ARGUMENT,
          'StreamID must be odd for client initiated streams',
        ),
      });
      return;
    }
    this.dispatch(conn, streamId, req);
  }

  private dispatch(conn: Connection, streamId: number, req: Request): void {
    const { service, method } = req;
    const methods = this.services.get(service);
    const handler = methods?.get(method);
    if (!handler) {
      const what = methods ? `method ${method}` : `service ${service}`;
      this.respond(conn, streamId, { status: protocolStatus(StatusCode.UNIMPLEMENTED, what) });
      return;
    }

    const call = new AbortController();
    if (conn.closed) call.abort(new DOMException('ttrpc connection closed', 'AbortError'));
    else conn.calls.add(call);
    const signal = call.signal;
    let timer: NodeJS.Timeout | undefined;
    let deadline: number | undefined;
    if (req.timeoutNano !== 0n) {
      const ms = req.timeoutNano < 0n ? 0 : Number((req.timeoutNano + 999_999n) / 1_000_000n);
      deadline = Date.now() + ms;
      const expire = (): void => call.abort(new DOMException('deadline exceeded', 'TimeoutError'));
      if (ms === 0) expire();
      else if (ms <= MAX_TIMER_MS) timer = setTimeout(expire, ms).unref();
    }
    const ctx: TtrpcRequestContext = {
      metadata: decodeMetadata(req.metadata),
      signal,
      service,
      method,
      ...(deadline === undefined ? {} : { deadline }),
    };
    const name = `${service}/${method}`;
    Promise.resolve()
      .then(() => handler(req.payload, ctx))
      .then((payload) => {
        if (!(payload instanceof Uint8Array)) {
          throw internal(
            `ttrpc handler ${JSON.stringify(name)}: answered ${typeof payload}, not bytes`,
          );
        }
        return { payload: asBuffer(payload) };
      })
      .catch((err: unknown) => ({
        status: errorToStatus(err, this.log.child({ service, method })),
        payload: Buffer.alloc(0),
      }))
      .then((res) => {
        if (timer) clearTimeout(timer);
        conn.calls.delete(call);
        this.respond(conn, streamId, res, name);
      });
  }

  private respond(
    conn: Connection,
    streamId: number,
    res: { status?: Status; payload?: Buffer },
    name?: string,
  ): void {
    if (conn.closed) return;
    let bytes = Response.encode({ payload: Buffer.alloc(0), ...res }).finish();
    if (bytes.length > MAX_MESSAGE_LENGTH) {
      const message = `ttrpc ${JSON.stringify(name ?? '')}: response of ${bytes.length} bytes exceeds the maximum message size of ${MAX_MESSAGE_LENGTH}`;
      this.log.error({ streamId }, message);
      bytes = Response.encode({
        status: protocolStatus(StatusCode.RESOURCE_EXHAUSTED, message),
        payload: Buffer.alloc(0),
      }).finish();
    }
    const { socket } = conn;
    if (!socket.write(encodeFrame(streamId, MessageType.RESPONSE, bytes))) {
      // A client that does not read its answers stops being read from, so
      // its requests cannot pile up answers in memory.
      if (socket.writableLength > WRITE_BACKLOG_LIMIT && !socket.isPaused()) {
        socket.pause();
        socket.once('drain', () => socket.resume());
      }
    }
  }
}

/** Closes a listener once its connections are gone and removes its socket file, if still the one it made. */
async function stopListener(
  server: Server,
  address: string,
  ino: number | undefined,
  log: Logger,
): Promise<void> {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  try {
    if (ino !== undefined && lstatSync(address).ino === ino) unlinkSync(address);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      log.warn({ err, address }, 'ttrpc: cannot remove socket');
    }
  }
}
