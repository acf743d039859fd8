import {
  type handleBidiStreamingCall,
  type handleServerStreamingCall,
  type handleUnaryCall,
  type MethodDefinition,
  type ServerDuplexStream,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceDefinition,
  type sendUnaryData,
  status,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import type { Logger } from '../core/log/index.js';
import type { OpContext } from '../core/namespaces/index.js';
import { contextFromMetadata } from './context.js';
import { toGrpcStatus } from './grpc-errors.js';

/**
 * What a service adapter hands the server: the generated definition, and
 * handlers for the methods it implements. Methods without a handler answer
 * UNIMPLEMENTED.
 */
export interface GrpcService {
  /** Full proto name, e.g. `containerd.services.version.v1.Version`. */
  readonly name: string;
  readonly definition: ServiceDefinition;
  /** Namespaced services reject calls without a valid `containerd-namespace`. */
  readonly namespaced: boolean;
  readonly handlers: Readonly<Record<string, Handler>>;
}

export type UnaryHandler<Req, Res> = (ctx: OpContext, req: Req) => Promise<Res> | Res;
export type StreamHandler<Req, Res> = (
  ctx: OpContext,
  req: Req,
  send: (res: Res) => Promise<void>,
) => Promise<void>;

/**
 * A bidirectional stream: requests arrive as an async iterable (ending when
 * the client half-closes), responses go out through `send`, which resolves
 * once grpc-js has taken the message (back-pressure).
 */
export type BidiHandler<Req, Res> = (
  ctx: OpContext,
  requests: AsyncIterable<Req>,
  send: (res: Res) => Promise<void>,
) => Promise<void>;

export type Handler =
  | { kind: 'unary'; fn: UnaryHandler<any, any> }
  | { kind: 'server-stream'; fn: StreamHandler<any, any> }
  | { kind: 'bidi'; fn: BidiHandler<any, any> };

export function unary<Req, Res>(fn: UnaryHandler<Req, Res>): Handler {
  return { kind: 'unary', fn };
}

export function serverStream<Req, Res>(fn: StreamHandler<Req, Res>): Handler {
  return { kind: 'server-stream', fn };
}

export function bidiStream<Req, Res>(fn: BidiHandler<Req, Res>): Handler {
  return { kind: 'bidi', fn };
}

/** Tracks calls in flight so shutdown can wait for them. */
export interface CallTracker {
  begin(): () => void;
  /** Aborted when the server begins to stop; ends long-lived streams. */
  readonly stopping: AbortSignal;
}

/**
 * Turns a {@link GrpcService} into grpc-js handlers: each call gets an
 * OpContext, a cancellation signal and a child logger, and every error is
 * mapped to a status in one place.
 */
export function implement(
  svc: GrpcService,
  log: Logger,
  tracker: CallTracker,
): UntypedServiceImplementation {
  const impl: UntypedServiceImplementation = {};
  for (const [key, def] of Object.entries(svc.definition) as [
    string,
    MethodDefinition<any, any>,
  ][]) {
    // Handlers are keyed by the proto method name, e.g. `List`.
    const method = def.path.slice(def.path.lastIndexOf('/') + 1);
    const h = svc.handlers[method];
    const mlog = log.child({ method: def.path });
    if (!h) {
      impl[key] = unimplemented(def);
      continue;
    }
    if (h.kind === 'unary') impl[key] = unaryCall(svc, h.fn, mlog, tracker);
    else if (h.kind === 'server-stream') impl[key] = streamCall(svc, h.fn, mlog, tracker);
    else impl[key] = bidiCall(svc, h.fn, mlog, tracker);
  }
  return impl;
}

function unaryCall(
  svc: GrpcService,
  fn: UnaryHandler<unknown, unknown>,
  log: Logger,
  tracker: CallTracker,
): handleUnaryCall<unknown, unknown> {
  return (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
    const started = process.hrtime.bigint();
    const end = tracker.begin();
    const done = () => {
      end();
      log.trace({ ms: Number(process.hrtime.bigint() - started) / 1e6 }, 'unary call');
    };
    let res: unknown;
    try {
      const ctx = contextFromMetadata(call.metadata, {
        namespaced: svc.namespaced,
        signal: () => callSignal(call),
        log,
      });
      res = fn(ctx, call.request);
    } catch (err) {
      callback(toGrpcStatus(err, log));
      done();
      return;
    }
    if (!(res instanceof Promise)) {
      callback(null, res);
      done();
      return;
    }
    res
      .then(
        (r: unknown) => callback(null, r),
        (err: unknown) => callback(toGrpcStatus(err, log)),
      )
      .finally(done);
  };
}

/** A signal aborted when the client cancels the call (or already has). */
function callSignal(call: ServerUnaryCall<unknown, unknown>): AbortSignal {
  const ac = new AbortController();
  if (call.cancelled) ac.abort();
  else call.once('cancelled', () => ac.abort());
  return ac.signal;
}

function streamCall(
  svc: GrpcService,
  fn: StreamHandler<unknown, unknown>,
  log: Logger,
  tracker: CallTracker,
): handleServerStreamingCall<unknown, unknown> {
  // Server streams (Subscribe, Watch) end when the server stops.
  return (call: ServerWritableStream<unknown, unknown>) =>
    runStream(svc, call, log, tracker, [tracker.stopping], (ctx, send) =>
      fn(ctx, call.request, send),
    );
}

function bidiCall(
  svc: GrpcService,
  fn: BidiHandler<unknown, unknown>,
  log: Logger,
  tracker: CallTracker,
): handleBidiStreamingCall<unknown, unknown> {
  // Unlike server streams, a bidi stream is not ended by shutdown: a
  // Content.Write in flight gets its grace period to commit.
  return (call: ServerDuplexStream<unknown, unknown>) =>
    runStream(svc, call, log, tracker, [], (ctx, send) => {
      // Reading the requests to their end must not destroy the call: the
      // handler still answers after the client half-closes.
      const requests = call.iterator({ destroyOnReturn: false }) as AsyncIterable<unknown>;
      return fn(ctx, requests, send);
    });
}

type StreamingCall = ServerWritableStream<unknown, unknown> | ServerDuplexStream<unknown, unknown>;

/**
 * Runs a streaming handler: a context whose signal aborts when the client
 * cancels (or any of `alsoAbortOn` does), a `send` that resolves once
 * grpc-js has taken the message, and the stream ended or failed with the
 * mapped status when the handler settles.
 */
function runStream(
  svc: GrpcService,
  call: StreamingCall,
  log: Logger,
  tracker: CallTracker,
  alsoAbortOn: AbortSignal[],
  run: (ctx: OpContext, send: (res: unknown) => Promise<void>) => Promise<void>,
): void {
  const started = process.hrtime.bigint();
  const end = tracker.begin();
  const done = () => {
    end();
    log.trace({ ms: Number(process.hrtime.bigint() - started) / 1e6 }, 'stream call');
  };
  const cancelled = new AbortController();
  call.on('cancelled', () => cancelled.abort());
  const signal =
    alsoAbortOn.length > 0 ? AbortSignal.any([cancelled.signal, ...alsoAbortOn]) : cancelled.signal;
  const send = (res: unknown) =>
    new Promise<void>((resolve, reject) => {
      if (signal.aborted) {
        reject(signal.reason);
        return;
      }
      call.write(res, (err?: Error | null) => (err ? reject(err) : resolve()));
    });
  Promise.resolve()
    .then(() =>
      run(contextFromMetadata(call.metadata, { namespaced: svc.namespaced, signal, log }), send),
    )
    .then(
      () => call.end(),
      (err: unknown) => {
        if (!cancelled.signal.aborted) call.emit('error', toGrpcStatus(err, log));
      },
    )
    .finally(done);
}

function unimplemented(def: MethodDefinition<unknown, unknown>) {
  const err = {
    code: status.UNIMPLEMENTED,
    details: `${def.path} is not implemented by berth yet`,
  };
  if (def.requestStream || def.responseStream) {
    return (call: { emit(ev: 'error', e: unknown): void }) => call.emit('error', err);
  }
  return (_call: unknown, cb: sendUnaryData<unknown>) => cb(err);
}
