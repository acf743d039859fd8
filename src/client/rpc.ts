import type {
  CallOptions,
  Channel,
  ClientReadableStream,
  ClientUnaryCall,
  Metadata as MetadataT,
  ServiceError,
} from '@grpc/grpc-js';
import { canceled, unavailable } from '../core/errdefs/index.js';
import { fromGrpcError } from './errors.js';

/** What a call carries: the namespace and lease headers, and its cancellation. */
export interface CallContext {
  readonly namespace?: string | undefined;
  readonly lease?: string | undefined;
  readonly signal?: AbortSignal | undefined;
}

export type Callback<Res> = (err: ServiceError | null, res: Res) => void;

type MetadataCtor = new () => MetadataT;

/**
 * How the client's proxies make calls: headers from the context
 * (`containerd-namespace`, `containerd-lease`), cancellation from its signal
 * (an aborted call fails `canceled`), a bounded wait for the connection, and
 * every failure mapped to berth's error kinds once, here.
 */
export class Rpc {
  /** The channel has been READY once: from then on calls fail fast. */
  private wasReady = false;

  constructor(
    private readonly channel: Channel,
    private readonly Metadata: MetadataCtor,
    /** How long a call waits for the connection to be ready (containerd's dial timeout). */
    private readonly connectTimeoutMs: number,
    readonly address: string,
  ) {}

  metadata(ctx: CallContext): MetadataT {
    const md = new this.Metadata();
    if (ctx.namespace !== undefined && ctx.namespace !== '') {
      md.set('containerd-namespace', ctx.namespace);
    }
    if (ctx.lease !== undefined && ctx.lease !== '') md.set('containerd-lease', ctx.lease);
    return md;
  }

  /** A unary call: resolves with the response or rejects with a berth error. */
  async unary<Res>(
    ctx: CallContext,
    start: (md: MetadataT, opts: Partial<CallOptions>, cb: Callback<Res>) => ClientUnaryCall,
  ): Promise<Res> {
    await this.connected(ctx.signal);
    return new Promise<Res>((resolve, reject) => {
      const signal = ctx.signal;
      const onAbort = () => call.cancel();
      const call = start(this.metadata(ctx), {}, (err, res) => {
        signal?.removeEventListener('abort', onAbort);
        if (err) reject(signal?.aborted ? abortError(signal, err) : fromGrpcError(err));
        else resolve(res);
      });
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * A server-streaming call as an async iterable. Leaving the loop early (or
   * aborting the signal) cancels the call.
   */
  async *stream<T>(
    ctx: CallContext,
    start: (md: MetadataT, opts: Partial<CallOptions>) => ClientReadableStream<T>,
  ): AsyncGenerator<T> {
    await this.connected(ctx.signal);
    const call = start(this.metadata(ctx), {});
    const signal = ctx.signal;
    const onAbort = () => call.cancel();
    signal?.addEventListener('abort', onAbort, { once: true });
    let done = false;
    try {
      for await (const msg of call) yield msg as T;
      done = true;
    } catch (err) {
      done = true;
      if (signal?.aborted) throw abortError(signal, err);
      throw fromGrpcError(err as ServiceError);
    } finally {
      signal?.removeEventListener('abort', onAbort);
      if (!done) call.cancel();
    }
  }

  /**
   * Waits (up to the connect timeout) for the channel to be ready, so a call
   * made while the daemon is starting does not fail at once; a channel that
   * cannot connect in time fails `unavailable` naming the address.
   */
  async connected(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) throw abortError(signal);
    // 2 = READY in grpc-js's ConnectivityState.
    if (this.channel.getConnectivityState(true) === 2) {
      this.wasReady = true;
      return;
    }
    // Once connected, calls fail fast as Go's client's do (grpc-go's default,
    // no WaitForReady): a daemon that went away answers UNAVAILABLE at once
    // instead of holding every call for the connect timeout.
    if (this.wasReady) return;
    const deadline = Date.now() + this.connectTimeoutMs;
    for (;;) {
      const state = this.channel.getConnectivityState(true);
      if (state === 2) {
        this.wasReady = true;
        return;
      }
      // 4 = SHUTDOWN: the client was closed.
      if (state === 4) throw unavailable(`client for ${this.address} is closed`);
      if (Date.now() >= deadline) {
        throw unavailable(
          `connection to ${this.address} not ready within ${this.connectTimeoutMs} ms`,
        );
      }
      const changed = await new Promise<boolean>((resolve) => {
        const onAbort = () => resolve(false);
        signal?.addEventListener('abort', onAbort, { once: true });
        this.channel.watchConnectivityState(state, deadline, (err) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(err === undefined);
        });
      });
      if (signal?.aborted) throw abortError(signal);
      if (!changed && Date.now() >= deadline) continue;
    }
  }
}

/** The error an aborted call rejects with: `canceled`, keeping the reason. */
export function abortError(signal: AbortSignal, cause?: unknown): Error {
  const reason = signal.reason;
  const why = reason instanceof Error ? reason.message : String(reason ?? 'aborted');
  return canceled(`operation canceled: ${why}`, { cause: cause ?? reason });
}
