import { chmodSync, chownSync, mkdirSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import type { Logger } from '../core/log/index.js';
import { claimSocketPath } from '../sys/socket.js';
import { type GrpcService, implement } from './service.js';

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
 * berthd's gRPC front door on a unix socket. It binds only after it has
 * made sure no other daemon answers there, and tracks calls in flight so
 * that {@link GrpcServer.stop} lets them finish.
 */
export class GrpcServer {
  private readonly server: Server;
  private inFlight = 0;
  private idle: (() => void) | undefined;
  private bound = false;
  private readonly stopping = new AbortController();

  constructor(
    private readonly opts: GrpcServerOptions,
    services: readonly GrpcService[],
  ) {
    const max = DEFAULT_MAX_MESSAGE_SIZE;
    this.server = new Server({
      'grpc.max_receive_message_length': opts.maxRecvMessageSize ?? max,
      'grpc.max_send_message_length': opts.maxSendMessageSize ?? max,
      // Per-call statistics nobody reads here; they cost on every call.
      'grpc.enable_channelz': 0,
    });
    const tracker = {
      stopping: this.stopping.signal,
      begin: () => {
        this.inFlight++;
        return () => {
          this.inFlight--;
          if (this.inFlight === 0) this.idle?.();
        };
      },
    };
    tuneFlowControl(this.server);
    for (const svc of services) {
      this.server.addService(
        svc.definition,
        implement(svc, opts.log.child({ service: svc.name }), tracker),
      );
    }
  }

  get address(): string {
    return this.opts.address;
  }

  async start(): Promise<void> {
    const { address } = this.opts;
    mkdirSync(dirname(address), { recursive: true, mode: 0o711 });
    await claimSocketPath(address);
    await new Promise<void>((resolve, reject) => {
      this.server.bindAsync(`unix:${address}`, ServerCredentials.createInsecure(), (err) =>
        err ? reject(err) : resolve(),
      );
    });
    this.bound = true;
    widenSessionWindows(this.server);
    chmodSync(address, 0o660);
    chownSync(address, this.opts.uid ?? 0, this.opts.gid ?? 0);
    this.opts.log.info({ address }, 'serving gRPC');
  }

  /**
   * Stops accepting calls and waits for those in flight; after `graceMs`
   * the rest are cancelled. Removes the socket file.
   */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.bound) return;
    this.bound = false;
    this.stopping.abort();
    const drained = new Promise<void>((resolve) => {
      this.server.tryShutdown(() => resolve());
    });
    const timer = new Promise<'timeout'>((resolve) => {
      setTimeout(() => resolve('timeout'), graceMs).unref();
    });
    if ((await Promise.race([drained, timer])) === 'timeout') {
      this.opts.log.warn({ inFlight: this.inFlight }, 'cancelling calls still in flight');
      this.server.forceShutdown();
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
}

/**
 * HTTP/2 flow-control windows sized for 1 MiB Content.Write chunks. Node's
 * defaults (64 KiB per stream and per connection) make a client wait for a
 * WINDOW_UPDATE every 64 KiB; containerd's grpc-go grows its windows for the
 * same reason. grpc-js has no option for the server side, so these reach
 * into it: checked against @grpc/grpc-js 1.14.7, which package.json pins.
 */
export const FLOW_CONTROL_WINDOW = 16 << 20;

interface GrpcJsServerInternals {
  commonServerOptions?: { settings?: Record<string, unknown> };
  http2Servers?: Map<import('node:http2').Http2Server, unknown>;
}

function tuneFlowControl(server: Server): void {
  const internals = server as unknown as GrpcJsServerInternals;
  if (!internals.commonServerOptions) return;
  internals.commonServerOptions.settings = {
    ...internals.commonServerOptions.settings,
    initialWindowSize: FLOW_CONTROL_WINDOW,
  };
}

function widenSessionWindows(server: Server): void {
  const internals = server as unknown as GrpcJsServerInternals;
  for (const h2 of internals.http2Servers?.keys() ?? []) {
    h2.on('session', (session) => {
      session.setLocalWindowSize(FLOW_CONTROL_WINDOW);
    });
  }
}
