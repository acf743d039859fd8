import { promisify } from 'node:util';
import { gunzip, inflate } from 'node:zlib';
import { canceled, deadlineExceeded, StatusCode } from '../core/errdefs/index.js';
import type { GrpcStatus } from './grpc-errors.js';
import type { H2Stream } from './h2/stream.js';
import {
  encodeGrpcMessage,
  frameMessage,
  GrpcStatusError,
  MessageReader,
  parseTimeout,
  type WireMessage,
} from './wire.js';

const gunzipAsync = promisify(gunzip);
const inflateAsync = promisify(inflate);

const RESPONSE_HEADERS = [
  [':status', '200'],
  ['content-type', 'application/grpc'],
] as const;

/** A status as trailers: `grpc-status`, and `grpc-message` unless it is empty. */
function statusTrailers(status: GrpcStatus): [string, string][] {
  const trailers: [string, string][] = [['grpc-status', String(status.code)]];
  if (status.message !== '') trailers.push(['grpc-message', encodeGrpcMessage(status.message)]);
  return trailers;
}

/** Ends a stream with a status and no message: gRPC's "trailers-only" answer. */
export function respondTrailersOnly(stream: H2Stream, status: GrpcStatus): void {
  stream.respondAndEnd([...RESPONSE_HEADERS, ...statusTrailers(status)]);
}

export interface CallLimits {
  maxRecvMessageSize: number;
  maxSendMessageSize: number;
}

/**
 * One gRPC call on an HTTP/2 stream: its metadata, its requests as they
 * arrive, its responses and its final status. Cancellation (the client
 * resets the stream or goes away) and the client's deadline abort
 * {@link signal}; after that, whatever the handler sends is dropped.
 */
export class ServerCall<Req, Res> {
  private readonly reader: MessageReader;
  private readonly encoding: string | undefined;
  private controller: AbortController | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private finished = false;
  /** Requests decoded and not yet taken; `ended` once the client half-closed. */
  private readonly pending: { req: Req; wireSize: number }[] = [];
  private ended = false;
  private failure: GrpcStatusError | undefined;
  private wake: (() => void) | undefined;
  /** Decompressions run one at a time so requests keep their order. */
  private decoding: Promise<void> = Promise.resolve();
  private pendingDecodes = 0;
  /** The client half-closed; with decompressions in flight, the end waits for them. */
  private endSeen = false;
  private requestsSettled = false;
  /** Set by the owner: called once, when the request stream has ended or failed. */
  onRequestsDone: (() => void) | undefined;

  constructor(
    readonly stream: H2Stream,
    private readonly decode: (b: Buffer) => Req,
    private readonly encode: (r: Res) => Buffer,
    private readonly limits: CallLimits,
  ) {
    this.reader = new MessageReader(limits.maxRecvMessageSize);
    const enc = stream.header('grpc-encoding');
    this.encoding = enc === undefined || enc === 'identity' ? undefined : enc;
    stream.onData = (chunk) => this.onData(chunk);
    stream.onEnd = () => this.onEnd();
    stream.onAbort = () => {
      this.finished = true;
      if (this.deadlineTimer !== undefined) clearTimeout(this.deadlineTimer);
      this.abortSignal(canceled('the client cancelled the call'));
    };
    const timeoutMs = parseTimeout(stream.header('grpc-timeout'));
    if (timeoutMs !== undefined) {
      this.deadlineTimer = setTimeout(() => {
        this.abortSignal(deadlineExceeded('the call passed its deadline'));
        this.sendStatus({ code: StatusCode.DEADLINE_EXCEEDED, message: 'Deadline exceeded' });
      }, timeoutMs);
    }
  }

  /** A request header (metadata) by lowercase name. */
  metadata(name: string): string | undefined {
    return this.stream.header(name);
  }

  get cancelled(): boolean {
    return this.controller?.signal.aborted ?? false;
  }

  /** Aborted when the client cancels or the deadline passes. Made on first use. */
  get signal(): AbortSignal {
    this.controller ??= new AbortController();
    return this.controller.signal;
  }

  // ---- requests ----

  /**
   * The single request of a unary or server-streaming call, once the
   * client has half-closed.
   */
  singleRequest(): Req {
    if (this.failure) throw this.failure;
    if (this.pending.length !== 1) {
      throw new GrpcStatusError(
        StatusCode.INTERNAL,
        this.pending.length === 0
          ? 'grpc: the client sent no request message'
          : 'grpc: the client sent more than one request message for a unary request',
      );
    }
    return this.take();
  }

  /** The requests of a streaming call as they arrive; ends when the client half-closes. */
  async *requests(): AsyncGenerator<Req> {
    for (;;) {
      if (this.pending.length > 0) {
        yield this.take();
        continue;
      }
      if (this.failure) throw this.failure;
      if (this.ended) return;
      if (this.cancelled) throw this.signal.reason;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      this.wake = undefined;
    }
  }

  /** The oldest request, its bytes credited back to the client now that it is taken. */
  private take(): Req {
    const { req, wireSize } = this.pending.shift()!;
    this.stream.consumed(wireSize);
    return req;
  }

  private onData(chunk: Buffer): void {
    if (this.failure || this.finished) {
      this.stream.consumed(chunk.length);
      return;
    }
    let msgs: WireMessage[];
    try {
      msgs = this.reader.push(chunk);
    } catch (err) {
      this.stream.consumed(chunk.length);
      this.fail(err as GrpcStatusError);
      return;
    }
    // Bytes of a message still incomplete are credited when it completes.
    for (const m of msgs) this.accept(m);
  }

  private accept(m: WireMessage): void {
    if (!m.compressed && this.pendingDecodes === 0) {
      this.push(m.payload, m.wireSize);
      return;
    }
    this.pendingDecodes++;
    this.decoding = this.decoding.then(async () => {
      try {
        const payload = m.compressed ? await this.decompress(m.payload) : m.payload;
        this.push(payload, m.wireSize);
      } catch (err) {
        this.stream.consumed(m.wireSize);
        this.fail(
          err instanceof GrpcStatusError
            ? err
            : new GrpcStatusError(
                StatusCode.INTERNAL,
                `grpc: failed to decompress the message: ${(err as Error).message}`,
              ),
        );
      } finally {
        this.pendingDecodes--;
        if (this.pendingDecodes === 0 && this.endSeen) this.onEnd();
      }
    });
  }

  private push(payload: Buffer, wireSize: number): void {
    if (this.failure || this.finished) {
      this.stream.consumed(wireSize);
      return;
    }
    let req: Req;
    try {
      req = this.decode(payload);
    } catch (err) {
      this.stream.consumed(wireSize);
      this.fail(
        new GrpcStatusError(
          StatusCode.INTERNAL,
          `grpc: error unmarshalling request: ${(err as Error).message}`,
        ),
      );
      return;
    }
    this.pending.push({ req, wireSize });
    this.wake?.();
  }

  /** Request messages may be gzip or deflate compressed; answers never are. */
  private async decompress(payload: Buffer): Promise<Buffer> {
    const max = this.limits.maxRecvMessageSize;
    const inflateFn =
      this.encoding === 'gzip'
        ? gunzipAsync
        : this.encoding === 'deflate'
          ? inflateAsync
          : undefined;
    if (inflateFn === undefined) {
      throw this.encoding === undefined
        ? new GrpcStatusError(
            StatusCode.INTERNAL,
            'grpc: compressed flag set with identity or empty encoding',
          )
        : new GrpcStatusError(
            StatusCode.UNIMPLEMENTED,
            `grpc: Decompressor is not installed for grpc-encoding ${JSON.stringify(this.encoding)}`,
          );
    }
    try {
      return await inflateFn(payload, { maxOutputLength: max });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
        throw new GrpcStatusError(
          StatusCode.RESOURCE_EXHAUSTED,
          `grpc: received message after decompression larger than max (${max})`,
        );
      }
      throw err;
    }
  }

  private onEnd(): void {
    this.endSeen = true;
    if (this.pendingDecodes > 0) return;
    if (!this.reader.atBoundary && !this.failure) {
      this.fail(
        new GrpcStatusError(StatusCode.INTERNAL, 'grpc: the request ended inside a message'),
      );
      return;
    }
    this.ended = true;
    this.wake?.();
    this.settleRequests();
  }

  private fail(err: GrpcStatusError): void {
    if (this.failure) return;
    this.failure = err;
    this.wake?.();
    this.settleRequests();
  }

  /** Tells the owner once, whether the requests ended or failed first. */
  private settleRequests(): void {
    if (this.requestsSettled) return;
    this.requestsSettled = true;
    this.onRequestsDone?.();
  }

  // ---- responses ----

  /**
   * Sends one response message. Resolves once the stream can take more
   * (back-pressure); after the call is over it resolves at once and the
   * message is dropped.
   */
  sendMessage(res: Res): Promise<void> {
    if (this.finished) return Promise.resolve();
    const payload = this.encode(res);
    if (payload.length > this.limits.maxSendMessageSize) {
      throw new GrpcStatusError(
        StatusCode.RESOURCE_EXHAUSTED,
        `grpc: trying to send message larger than max (${payload.length} vs. ${this.limits.maxSendMessageSize})`,
      );
    }
    if (!this.stream.headersSent) this.stream.respond(RESPONSE_HEADERS);
    return this.stream.write(frameMessage(payload)) ? Promise.resolve() : this.stream.drained();
  }

  /** The one answer of a unary call: headers, message and OK in one go. */
  sendUnary(res: Res): void {
    if (this.finished) return;
    let payload: Buffer;
    try {
      payload = this.encode(res);
    } catch (err) {
      this.sendStatus({
        code: StatusCode.INTERNAL,
        message: `grpc: error while marshaling: ${(err as Error).message}`,
      });
      return;
    }
    if (payload.length > this.limits.maxSendMessageSize) {
      this.sendStatus({
        code: StatusCode.RESOURCE_EXHAUSTED,
        message: `grpc: trying to send message larger than max (${payload.length} vs. ${this.limits.maxSendMessageSize})`,
      });
      return;
    }
    this.stream.respond(RESPONSE_HEADERS);
    this.stream.write(frameMessage(payload));
    this.sendStatus({ code: StatusCode.OK, message: '' });
  }

  /** Ends the call with a status: trailers after a response, or a trailers-only answer. */
  sendStatus(status: GrpcStatus): void {
    if (this.finished) return;
    this.finished = true;
    if (this.deadlineTimer !== undefined) clearTimeout(this.deadlineTimer);
    if (this.stream.headersSent) this.stream.end(statusTrailers(status));
    else respondTrailersOnly(this.stream, status);
  }

  private abortSignal(reason: Error): void {
    if (this.controller === undefined || !this.controller.signal.aborted) {
      this.controller ??= new AbortController();
      this.controller.abort(reason);
    }
    this.wake?.();
  }
}
