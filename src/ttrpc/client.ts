import { connect, type Socket } from 'node:net';
import { Request, Response } from '../api/ttrpc/ttrpc.js';
import { asBuffer } from '../core/any/index.js';
import {
  type BerthError,
  canceled,
  deadlineExceeded,
  internal,
  invalidArgument,
  kindOf,
  newError,
  resourceExhausted,
  unavailable,
} from '../core/errdefs/index.js';
import { type Logger, nullLogger } from '../core/log/index.js';
import { encodeFrame, type Frame, FrameDecoder, MAX_MESSAGE_LENGTH, MessageType } from './frame.js';
import { encodeMetadata, type TtrpcMetadataInit } from './metadata.js';
import { socketPath } from './socket-path.js';
import { isFailure, statusToError } from './status.js';

export interface TtrpcCallOptions {
  /** Sent as request metadata; keys are lower-cased, as Go's ttrpc.MD does. */
  metadata?: TtrpcMetadataInit;
  /**
   * How long the call may take: sent to the server as `timeout_nano` and
   * enforced here (`deadline_exceeded`). Zero or less fails at once.
   */
  timeoutMs?: number;
  /** Aborting fails the call (`canceled`, or the reason's kind); a late answer is dropped. */
  signal?: AbortSignal;
}

export interface TtrpcConnectOptions {
  log?: Logger;
  /** How long to wait for the socket to accept; default 10 s. */
  connectTimeoutMs?: number;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const MAX_STREAM_ID = 0xffffffff;
/** The longest delay a Node timer honours (about 24.8 days). */
const MAX_TIMEOUT_MS = 0x7fffffff;

interface PendingCall {
  readonly name: string;
  readonly resolve: (payload: Uint8Array) => void;
  readonly reject: (err: BerthError) => void;
}

/**
 * A ttrpc client on one unix-socket connection. Unary calls run
 * concurrently, each on its own odd stream id; answers are matched by id.
 * When the connection ends, for whatever reason, every pending call fails
 * with `unavailable` and later calls fail the same way.
 */
export class TtrpcClient {
  /** Resolves once the connection has ended, whoever ended it. */
  readonly closed: Promise<void>;

  private readonly pending = new Map<number, PendingCall>();
  private readonly decoder = new FrameDecoder();
  private nextStreamId = 1;
  private ended = false;
  private resolveClosed!: () => void;

  private constructor(
    private readonly socket: Socket,
    private readonly address: string,
    private readonly log: Logger,
  ) {
    this.closed = new Promise((resolve) => {
      this.resolveClosed = resolve;
    });
    socket.on('data', (chunk: Buffer) => {
      for (const frame of this.decoder.push(chunk)) this.onFrame(frame);
    });
    socket.on('error', (err) => this.finish(`connection error: ${err.message}`, err));
    socket.on('close', () => this.finish('connection closed'));
  }

  /** Connects to the ttrpc server on the unix socket `path` (a `unix://` prefix is accepted). */
  static async connect(path: string, opts: TtrpcConnectOptions = {}): Promise<TtrpcClient> {
    const address = socketPath(path);
    const timeoutMs = opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
      throw invalidArgument(`ttrpc connect: timeout ${timeoutMs} ms must be a positive number`);
    }
    const socket = await new Promise<Socket>((resolve, reject) => {
      const sock = connect({ path: address });
      const timer = setTimeout(() => {
        sock.destroy();
        reject(
          deadlineExceeded(
            `ttrpc connect ${JSON.stringify(address)}: not accepted within ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      const onError = (err: Error): void => {
        clearTimeout(timer);
        reject(
          unavailable(`ttrpc connect ${JSON.stringify(address)}: ${err.message}`, { cause: err }),
        );
      };
      sock.once('error', onError);
      sock.once('connect', () => {
        clearTimeout(timer);
        sock.off('error', onError);
        resolve(sock);
      });
    });
    return new TtrpcClient(socket, address, opts.log ?? nullLogger);
  }

  get isClosed(): boolean {
    return this.ended;
  }

  /**
   * Calls `service`/`method` with an encoded request message and resolves to
   * the encoded response message. A failure status rejects with a berth error
   * of the status code's kind and the server's message.
   */
  call(
    service: string,
    method: string,
    payload: Uint8Array,
    opts: TtrpcCallOptions = {},
  ): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      const name = `${service}/${method}`;
      const subject = `ttrpc call ${JSON.stringify(name)}`;
      if (this.ended) {
        reject(unavailable(`${subject}: connection to ${JSON.stringify(this.address)} is closed`));
        return;
      }
      if (
        typeof service !== 'string' ||
        service === '' ||
        typeof method !== 'string' ||
        method === ''
      ) {
        reject(invalidArgument(`${subject}: service and method must be non-empty strings`));
        return;
      }
      const { signal, timeoutMs } = opts;
      if (signal?.aborted) {
        reject(abortedCall(subject, signal.reason));
        return;
      }
      if (
        timeoutMs !== undefined &&
        (typeof timeoutMs !== 'number' || Number.isNaN(timeoutMs) || timeoutMs > MAX_TIMEOUT_MS)
      ) {
        reject(
          invalidArgument(
            `${subject}: timeout ${timeoutMs} ms must be a number up to ${MAX_TIMEOUT_MS}`,
          ),
        );
        return;
      }
      if (timeoutMs !== undefined && timeoutMs <= 0) {
        reject(deadlineExceeded(`${subject}: deadline already passed`));
        return;
      }
      let bytes: Uint8Array;
      try {
        bytes = Request.encode({
          service,
          method,
          payload: asBuffer(payload),
          timeoutNano: timeoutMs === undefined ? 0n : BigInt(Math.ceil(timeoutMs * 1e6)),
          metadata: encodeMetadata(opts.metadata),
        }).finish();
      } catch (err) {
        reject(invalidArgument(`${subject}: ${(err as Error).message}`, { cause: err }));
        return;
      }
      if (bytes.length > MAX_MESSAGE_LENGTH) {
        reject(
          resourceExhausted(
            `${subject}: request of ${bytes.length} bytes exceeds the maximum message size of ${MAX_MESSAGE_LENGTH}`,
          ),
        );
        return;
      }

      const id = this.allocateStreamId();
      let timer: NodeJS.Timeout | undefined;
      const onAbort = (): void => {
        if (this.pending.delete(id)) settle();
        reject(abortedCall(subject, signal?.reason));
      };
      const settle = (): void => {
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      this.pending.set(id, {
        name,
        resolve: (p) => {
          settle();
          resolve(p);
        },
        reject: (err) => {
          settle();
          reject(err);
        },
      });
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          if (!this.pending.delete(id)) return;
          settle();
          reject(deadlineExceeded(`${subject}: no answer within ${timeoutMs} ms`));
        }, timeoutMs);
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      this.socket.write(encodeFrame(id, MessageType.REQUEST, bytes));
    });
  }

  /** Ends the connection; pending calls fail with `unavailable`. */
  close(): void {
    this.finish('client closed');
  }

  private allocateStreamId(): number {
    // Odd ids only; after 2^31 calls they wrap, skipping any still pending.
    let id = this.nextStreamId;
    while (this.pending.has(id)) id = id + 2 > MAX_STREAM_ID ? 1 : id + 2;
    this.nextStreamId = id + 2 > MAX_STREAM_ID ? 1 : id + 2;
    return id;
  }

  private onFrame(frame: Frame): void {
    const { streamId, type, length } = frame.header;
    if (type !== MessageType.RESPONSE && !frame.oversize) {
      this.log.warn({ streamId, type }, 'ttrpc: ignoring frame of unknown type');
      return;
    }
    const call = this.pending.get(streamId);
    if (!call) {
      // An answer after the call timed out or was cancelled.
      this.log.debug({ streamId, type }, 'ttrpc: answer for no pending call');
      return;
    }
    this.pending.delete(streamId);
    const subject = `ttrpc call ${JSON.stringify(call.name)}`;
    if (frame.oversize) {
      call.reject(
        resourceExhausted(
          `${subject}: response of ${length} bytes exceeds the maximum message size of ${MAX_MESSAGE_LENGTH}`,
        ),
      );
      return;
    }
    let response: Response;
    try {
      response = Response.decode(frame.payload);
    } catch (err) {
      call.reject(
        internal(`${subject}: malformed response: ${(err as Error).message}`, { cause: err }),
      );
      return;
    }
    if (isFailure(response.status)) call.reject(statusToError(response.status));
    else call.resolve(response.payload);
  }

  private finish(reason: string, cause?: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.socket.destroy();
    if (cause) this.log.debug({ err: cause, address: this.address }, 'ttrpc: connection failed');
    const calls = [...this.pending.values()];
    this.pending.clear();
    for (const call of calls) {
      call.reject(
        unavailable(
          `ttrpc call ${JSON.stringify(call.name)}: ${reason}`,
          cause ? { cause } : undefined,
        ),
      );
    }
    this.resolveClosed();
  }
}

/** The error for a call whose signal aborted: the reason's kind if it has one, else `canceled`. */
function abortedCall(subject: string, reason: unknown): BerthError {
  const kind = kindOf(reason);
  if (kind === 'unknown') return canceled(subject, { cause: reason });
  const detail = reason instanceof Error ? reason.message : String(reason);
  return newError(kind, `${subject}: ${detail}`, { cause: reason });
}
